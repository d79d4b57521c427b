/// `net.ipv4.conf.all.forwarding` (the same switch as `net.ipv4.ip_forward`) is 0 while a bridge
/// has ports: nothing is forwarded at all.
public struct IPForwardingDisabled: Rule {
    public init() {}
    public let id: RuleID = "ip-forwarding-disabled"
    public let defaultSeverity = Severity.critical
    public let title = "IPv4 forwarding is off for the whole host (net.ipv4.ip_forward=0)"
    public let messageID = "0f3a86a2c5e94c1b9a7a4d3e8b2f6a01"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.needsForwarding else { return [] }
        guard let value = host.allConf?.forwarding, value == 0 else { return [] }
        let bridges = host.bridgesWithPorts.map(\.name)
        return [
            finding(
                subject: Self.subject,
                message: Message.disabled(bridges: bridges),
                fix: Message.fix,
                evidence: [
                    Evidence("sysctl", Self.subject),
                    Evidence("value", "0"),
                    Evidence("bridges", bridges.joined(separator: ",")),
                ] + host.portsEvidence(from: nil) + host.dropEvidence)
        ]
    }

    static let subject = "net.ipv4.conf.all.forwarding"

    enum Message {
        static func disabled(bridges: [String]) -> String {
            "IPv4 forwarding is off for the whole host (net.ipv4.ip_forward=0) while bridge "
                + "\(bridges.joined(separator: ", ")) has ports: no packet reaches a container or VM "
                + "from outside, and nothing they send leaves the host."
        }
        static let fix = "sysctl -w net.ipv4.ip_forward=1"
    }
}
