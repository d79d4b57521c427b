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
        // A sysctl file that writes ip_forward=0 (or all.forwarding=0) brings it back at every boot.
        let source: PersistentSetting? = host.persistentSource(of: "forwarding", on: "all", writing: 0)
        var evidence = [
            Evidence("sysctl", Self.subject),
            Evidence("value", "0"),
            Evidence("bridges", bridges.joined(separator: ",")),
        ]
        evidence += host.portsEvidence(from: nil) + host.dropEvidence
        if let source { evidence.append(Evidence("source", source.location)) }
        return [
            finding(
                subject: Self.subject, message: Message.disabled(bridges: bridges, source: source),
                fix: Message.fix(source: source), evidence: evidence)
        ]
    }

    static let subject = "net.ipv4.conf.all.forwarding"

    enum Message {
        static func disabled(bridges: [String], source: PersistentSetting? = nil) -> String {
            "IPv4 forwarding is off for the whole host (net.ipv4.ip_forward=0) while bridge "
                + "\(bridges.joined(separator: ", ")) has ports: no packet reaches a container or VM "
                + "from outside, and nothing they send leaves the host."
                + (source.map { " " + $0.comesBackSentence(on: "all") } ?? "")
        }
        static let fix = "sysctl -w net.ipv4.ip_forward=1"
        static func fix(source: PersistentSetting?) -> String {
            fix + (source.map { "; " + $0.lastingFix(good: 1) } ?? "")
        }
    }
}
