/// A health rule: reads a `HostView`, returns findings. Pure; one rule per file under `Rules/`.
public protocol Rule: Sendable {
    /// Stable kebab-case id; it appears in the journal, the JSON and the configuration.
    var id: RuleID { get }
    var defaultSeverity: Severity { get }
    /// One line that says what the rule watches.
    var title: String { get }
    /// The journal MESSAGE_ID of this rule's `raised` and `changed` entries: 32 lower-case hex digits,
    /// fixed forever, with an entry in `packaging/catalog/fwdwatch.catalog`. It lives here, not in FwdwatchJournal,
    /// because a MESSAGE_ID is part of a rule's public contract, like its id and its catalog entry.
    var messageID: String { get }

    func evaluate(_ host: HostView) -> [Finding]

    /// How long a finding must persist before the daemon raises it (0: at once). For states that
    /// normal operation passes through, such as a container's new veth before its peer is up.
    var settleSeconds: Double { get }
}

extension Rule {
    public var settleSeconds: Double { 0 }
}

extension Rule {
    /// A finding of this rule at its default severity.
    func finding(
        subject: String, message: String, fix: String, interface: String? = nil, evidence: [Evidence] = [],
        severity: Severity? = nil
    ) -> Finding {
        Finding(
            rule: id, subject: subject, severity: severity ?? defaultSeverity, message: message, fix: fix,
            interface: interface, evidence: evidence)
    }
}

/// Every rule fwdwatch knows, in the order `fwdwatch rules` lists them.
public enum RuleRegistry {
    public static let all: [any Rule] = [
        IPForwardingDisabled(),
        InterfaceForwardingDisabled(),
        DefaultForwardingDisabled(),
        BridgeDown(),
        BridgeNoCarrier(),
        BridgeNoAddress(),
        BridgeRouteMissing(),
        BridgeRouteShadowed(),
        BridgePortNotForwarding(),
        VethDetached(),
        DefaultRouteMissing(),
        RPFilterStrictAsymmetric(),
        ConntrackTableNearFull(),
        BridgeNetfilterCallDisabled(),
        InAddrErrorsRising(),
        PublishedPortUnreachable(),
        ForwardChainBlocksBridge(),
        DnatTargetNotOnBridge(),
        DnatTargetNotAnswering(),
        DnatRuleMissing(),
        MasqueradeMissing(),
        PublishedPortDropping(),
    ]

    public static func rule(_ id: RuleID) -> (any Rule)? {
        all.first { $0.id == id }
    }

    /// The MESSAGE_ID of every `resolved` journal entry, whatever the rule.
    public static let resolvedMessageID = "5b1f0d7c7e3a4c55a1a0e3f46a7a0c01"
}
