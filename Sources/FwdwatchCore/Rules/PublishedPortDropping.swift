/// A published port loses packets that no other finding explains: the drop probe (`[drops] enabled`) saw
/// the kernel drop its clients' packets, and neither the port's path from that ingress (forwarding, route,
/// forward chain, rp_filter, the target's ARP: what `published-port-unreachable`, `forward-chain-blocks-bridge`
/// and `dnat-target-not-answering` report) nor the ingress's own forwarding or rp_filter setting breaks it.
/// A breakage fwdwatch does not model (an nft drop it cannot decide, a rule that depends on the client) is
/// still caught by its victims. Traffic to ports nobody publishes never becomes a finding.
public struct PublishedPortDropping: Rule {
    public init() {}
    public let id: RuleID = "published-port-dropping"
    public let defaultSeverity = Severity.warning
    public let title = "The kernel drops packets to a published port for a reason no other rule explains"
    public let messageID = "f4fe1afc6bbe4233bed190aa7f26e3b1"

    /// At or above this many dropped packets per second (over the interval the drops cover), critical.
    public static let criticalPerSecond = 5.0

    public func evaluate(_ host: HostView) -> [Finding] {
        let observations = DropAttribution.observations(host).filter { !explained($0, host) }
        guard !observations.isEmpty else { return [] }
        var ports: [String] = []
        for observation in observations where !ports.contains(observation.port) { ports.append(observation.port) }
        return ports.map { port in
            let mine = observations.filter { $0.port == port }
            let count = mine.reduce(0) { $0 + $1.count }
            let seconds = mine.map(\.seconds).max() ?? 0
            let rate = seconds > 0 ? Double(count) / seconds : 0
            let ingresses = DropAttribution.unique(mine.map(\.ingress))
            let reasons = DropAttribution.unique(mine.map(\.reason))
            let targets = DropAttribution.unique(mine.flatMap(\.targets))
            var clients: [String] = []
            for observation in mine {
                for client in observation.clients where !clients.contains(client) { clients.append(client) }
            }
            clients.sort(by: DropCount.addressOrder)
            return finding(
                subject: port,
                message: Message.dropping(
                    port: port, targets: targets, count: count, clients: clients, ingresses: ingresses,
                    reasons: reasons, seconds: seconds),
                fix: DropAttribution.unique(mine.map { Message.fix(reason: $0.reason, port: port, ingress: $0.ingress, targets: $0.targets) })
                    .joined(separator: "; "),
                interface: ingresses.count == 1 ? ingresses[0] : nil,
                evidence: DropObservation.evidence(mine) + [
                    Evidence("ingress", ingresses.joined(separator: ",")),
                    Evidence("target", targets.joined(separator: ",")),
                ],
                severity: rate >= Self.criticalPerSecond ? .critical : .warning)
        }
    }

    /// Whether another rule already names what drops these packets.
    func explained(_ observation: DropObservation, _ host: HostView) -> Bool {
        // The port's own path from this ingress is broken (any hop, the target's ARP included).
        for (port, paths) in zip(host.publishedPorts, host.portPaths) where port.subject == observation.port {
            if paths.contains(where: { $0.ingress == observation.ingress && $0.isBroken }) { return true }
        }
        // The ingress is no ingress of the port (no path walked): its own switches.
        guard let link = host.link(named: observation.ingress) else { return false }
        switch observation.reason {
        case "IP_INADDRERRORS":
            return host.allConf?.forwarding == 0 || host.conf(link)?.forwarding == 0
        case "IP_RPFILTER":
            return host.effectiveRPFilter(link) == 1
        default:
            return false
        }
    }

    enum Message {
        static func dropping(
            port: String, targets: [String], count: UInt64, clients: [String], ingresses: [String], reasons: [String],
            seconds: Double
        ) -> String {
            let packets = count == 1 ? "1 packet" : "\(count) packets"
            let from =
                clients.isEmpty
                ? ""
                : clients.count == 1 ? " from 1 client (\(clients[0]))" : " from \(clients.count) clients (\(clients.joined(separator: ", ")))"
            let to = targets.isEmpty ? port : "\(port) -> \(targets.joined(separator: ", "))"
            return "\(packets)\(from) to published port \(to) were dropped on \(ingresses.joined(separator: ", ")) "
                + "in the last \(formatRate(seconds)) s (\(reasons.map(DropReasonText.describe).joined(separator: "; "))), "
                + "and no other finding explains it: clients there time out."
        }

        static func fix(reason: String, port: String, ingress: String, targets: [String]) -> String {
            let number = port.split(separator: "/").first.map(String.init) ?? port
            switch reason {
            case "NETFILTER_DROP":
                return "nft -a list ruleset | grep -w -e drop -e reject; iptables-save -c | grep -e DROP -e REJECT"
                    + "  # find the rule that drops \(port) from \(ingress)"
            case "IP_INADDRERRORS":
                return "sysctl net.ipv4.conf.all.forwarding net.ipv4.conf.\(ingress.replacingDots()).forwarding"
                    + "  # both must be 1"
            case "IP_RPFILTER":
                return "sysctl -w net.ipv4.conf.\(ingress.replacingDots()).rp_filter=2  # loose mode"
            case "NEIGH_FAILED", "NEIGH_CREATEFAIL", "NEIGH_QUEUEFULL", "NEIGH_DEAD":
                let addresses = targets.map { $0.split(separator: ":").first.map(String.init) ?? $0 }
                return "ip neigh show \(addresses.first ?? "")  # is the workload behind \(port) running?"
            case "NO_SOCKET":
                return "ss -lntu 'sport = :\(number)'; iptables -t nat -S | grep -w \(number)  # nothing listens, no DNAT"
            case "IP_INNOROUTES", "IP_OUTNOROUTES":
                return "ip route get \(targets.first.map { $0.split(separator: ":").first.map(String.init) ?? $0 } ?? "TARGET")"
            default:
                return "perf record -e skb:kfree_skb -a sleep 5 && perf script  # where the kernel drops \(reason)"
            }
        }
    }
}
