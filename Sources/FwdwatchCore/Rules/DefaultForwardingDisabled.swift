/// `net.ipv4.conf.default.forwarding=0` while `all` is 1: interfaces created from now on
/// (new NICs, bonds, VLANs) start with forwarding=0.
public struct DefaultForwardingDisabled: Rule {
    public init() {}
    public let id: RuleID = "default-forwarding-disabled"
    public let defaultSeverity = Severity.warning
    public let title = "New interfaces will not forward (default.forwarding=0 while all=1)"
    public let messageID = "8d2b4f6a1e9c4a7bb3c5e7f9a1d3b503"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.allConf?.forwarding == 1 else { return [] }
        guard let value = host.defaultConf?.forwarding, value == 0 else { return [] }
        // The line the 0 comes back from at boot, if one is known.
        let source: PersistentSetting? = host.persistentSource(of: "forwarding", on: "default", writing: 0)
        var evidence = [Evidence("sysctl", Self.subject), Evidence("value", "0"), Evidence("all_forwarding", "1")]
        if let source { evidence.append(Evidence("source", source.location)) }
        return [
            finding(
                subject: Self.subject, message: Message.disabled(source: source), fix: Message.fix(source: source),
                evidence: evidence)
        ]
    }

    static let subject = "net.ipv4.conf.default.forwarding"

    enum Message {
        static let disabled =
            "net.ipv4.conf.default.forwarding=0 while net.ipv4.ip_forward=1: every interface created "
            + "from now on (a new NIC, bond or VLAN uplink) starts with forwarding=0 and will drop forwarded "
            + "traffic silently."
        static let fix = "sysctl -w net.ipv4.conf.default.forwarding=1"
        static func disabled(source: PersistentSetting?) -> String {
            disabled + (source.map { " " + $0.comesBackSentence(on: "default") } ?? "")
        }
        static func fix(source: PersistentSetting?) -> String {
            fix + (source.map { "; " + $0.lastingFix(good: 1) } ?? "")
        }
    }
}
