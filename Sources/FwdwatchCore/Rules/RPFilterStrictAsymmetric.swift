/// Strict reverse-path filtering (rp_filter=1) on an ingress interface that is not where the best
/// default route leaves: packets from distant sources arriving there fail the reverse-path check
/// (the reply would leave by another interface) and are dropped silently.
public struct RPFilterStrictAsymmetric: Rule {
    public init() {}
    public let id: RuleID = "rp-filter-strict-asymmetric"
    public let defaultSeverity = Severity.warning
    public let title = "Strict rp_filter on an interface whose return path leaves elsewhere"
    public let messageID = "d169f0cf79dc4f13887c8888d4c4a314"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard let best = host.defaultRoutes.first(where: { $0.type == "unicast" }),
            let egress = best.outputInterface
        else { return [] }
        let egressName = host.name(of: egress) ?? "ifindex \(egress)"
        return host.ingressInterfaces.compactMap { link in
            guard !link.isBridge, link.index != egress else { return nil }
            guard host.effectiveRPFilter(link) == 1 else { return nil }
            let key = HostView.sysctlKey(link.name, "rp_filter")
            // Strict comes from the interface's own 1 or from all=1 (the maximum applies): name the line of each.
            var sources: [(line: PersistentSetting, interface: String)] = []
            if host.conf(link)?.rpFilter == 1, let own = host.persistentSource(of: "rp_filter", on: link.name, writing: 1) {
                sources.append((own, link.name))
            }
            if host.allConf?.rpFilter == 1, let all = host.persistentSource(of: "rp_filter", on: "all", writing: 1) {
                sources.append((all, "all"))
            }
            var evidence = [
                Evidence("sysctl", key),
                Evidence("value", host.conf(link)?.rpFilter.map(String.init) ?? "unknown"),
                Evidence("all_rp_filter", host.allConf?.rpFilter.map(String.init) ?? "unknown"),
                Evidence("default_route_interface", egressName),
            ]
            evidence += sources.map(\.line).sourceEvidence
            evidence += host.dropObservationEvidence(ingress: link.name)
            return finding(
                subject: link.name,
                message: Message.asymmetric(link.name, egress: egressName, sources: sources),
                fix: Message.fix(key: key, allStrict: host.allConf?.rpFilter == 1, sources: sources.map(\.line)),
                interface: link.name,
                evidence: evidence)
        }
    }

    enum Message {
        /// `sources`: the lines strict mode comes back from, each with the interface it writes ("all" or this one).
        static func asymmetric(
            _ interface: String, egress: String, sources: [(line: PersistentSetting, interface: String)] = []
        ) -> String {
            "\(interface) filters by strict reverse path (rp_filter=1) but the default route leaves by \(egress): "
                + "packets from distant sources arriving on \(interface) (to published ports too) are dropped "
                + "silently because their reply would leave by another interface."
                + sources.map { " " + $0.line.comesBackSentence(on: $0.interface) }.joined()
        }
        /// With `sources`, the lines strict mode comes back from: the fix says how to make it last.
        static func fix(key: String, allStrict: Bool, sources: [PersistentSetting] = []) -> String {
            let now =
                allStrict
                ? "sysctl -w net.ipv4.conf.all.rp_filter=2 && sysctl -w \(key)=2  # loose mode"
                : "sysctl -w \(key)=2  # loose mode"
            return ([now] + sources.map { $0.lastingFix(good: 2) }).joined(separator: "; ")
        }
    }
}
