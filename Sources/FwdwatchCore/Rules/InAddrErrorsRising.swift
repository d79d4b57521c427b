/// `Ip: InAddrErrors` grew between two readings and no forwarding setting explains it: the kernel
/// is dropping packets silently for a reason the other rules do not see.
public struct InAddrErrorsRising: Rule {
    public init() {}
    public let id: RuleID = "in-addr-errors-rising"
    public let defaultSeverity = Severity.warning
    public let title = "The kernel drops packets silently (Ip: InAddrErrors grows) for no known reason"
    public let messageID = "1750c3a4245045ce82bfeb399334a75b"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard let sample = host.snapshot.dropSample, sample.inAddrErrors > 0, sample.seconds > 0 else { return [] }
        guard !forwardingExplains(host) else { return [] }
        let rate = formatRate(sample.inAddrErrorsPerSecond)
        return [
            finding(
                subject: "Ip:InAddrErrors", message: Message.rising(count: sample.inAddrErrors, rate: rate),
                fix: Message.fix, evidence: host.dropEvidence)
        ]
    }

    /// The forwarding switches the forwarding rules check: when one is off, they carry the drops.
    private func forwardingExplains(_ host: HostView) -> Bool {
        guard host.needsForwarding else { return false }
        if host.allConf?.forwarding == 0 { return true }
        // Every up interface with an address counts here, ignored ones too: ignoring an interface hides
        // its findings, it does not make its drops unexplained.
        return host.snapshot.links.contains { link in
            host.isUp(link) && !link.loopback && !host.ipv4(of: link).isEmpty && host.conf(link)?.forwarding == 0
        }
    }

    enum Message {
        static func rising(count: UInt64, rate: String) -> String {
            "The kernel dropped \(count) packets (\(rate)/s) counted as Ip: InAddrErrors (invalid destination "
                + "address, or arrival on an interface that does not forward) and no forwarding setting "
                + "explains it."
        }
        static let fix =
            "nstat -az IpInAddrErrors; sysctl -a 2>/dev/null | grep '\\.forwarding'  # then capture the dropped traffic with tcpdump"
    }
}
