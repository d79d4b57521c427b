/// The connection-tracking table is nearly full: when it is full, new connections (NATed ones to
/// published ports included) are dropped.
public struct ConntrackTableNearFull: Rule {
    public init() {}
    public let id: RuleID = "conntrack-table-near-full"
    public let defaultSeverity = Severity.warning
    public let title = "The conntrack table is nearly full"
    public let messageID = "6081b2f423bd4966a6337e04d81068a6"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard let table = host.snapshot.conntrack, table.max > 0 else { return [] }
        let fill = Double(table.count) / Double(table.max)
        guard fill >= host.settings.conntrackWarningRatio else { return [] }
        let severity: Severity = fill >= host.settings.conntrackCriticalRatio ? .critical : .warning
        let percent = formatRate(fill * 100)
        return [
            finding(
                subject: "nf_conntrack", message: Message.nearFull(percent: percent, table: table),
                fix: Message.fix(max: table.max),
                evidence: [
                    Evidence("count", String(table.count)), Evidence("max", String(table.max)),
                    Evidence("fill_percent", percent),
                ], severity: severity)
        ]
    }

    enum Message {
        static func nearFull(percent: String, table: Conntrack) -> String {
            "The conntrack table is \(percent)% full (\(table.count) of \(table.max)): when it is full the kernel "
                + "drops new connections, NATed ones to published ports included."
        }
        static func fix(max: UInt64) -> String {
            let doubled = max.multipliedReportingOverflow(by: 2)
            let target = doubled.overflow ? "<larger value>" : String(doubled.partialValue)
            return "sysctl -w net.netfilter.nf_conntrack_max=\(target)  # and look for what opens so many connections"
        }
    }
}
