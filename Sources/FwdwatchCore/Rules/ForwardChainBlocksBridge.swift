/// The forward hook drops new connections towards a bridge's published ports: a DOCKER-USER drop, a
/// FORWARD policy DROP without Docker's accept rule, a firewall manager's chain. Reported per bridge
/// (or other egress interface), whatever the state of the other hops, so a rule that would block the
/// ports is named even while an earlier hop (a sysctl) hides it from `published-port-unreachable`.
public struct ForwardChainBlocksBridge: Rule {
    public init() {}
    public let id: RuleID = "forward-chain-blocks-bridge"
    public let defaultSeverity = Severity.critical
    public let title = "The forward chain drops new connections to a bridge's published ports"
    public let messageID = "ff6568b5ea954cb99abdde220caee8c9"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.snapshot.firewall != nil else { return [] }
        var blocked: [(egress: Link, port: PublishedPort, ingress: Link, hop: PathHop)] = []
        for (port, paths) in zip(host.publishedPorts, host.portPaths) {
            for path in paths {
                guard let ingress = host.link(named: path.ingress),
                    let egress = path.egress.flatMap({ $0 == path.ingress ? nil : host.link(named: $0) })
                        ?? host.egressInterface(for: port, from: ingress)
                else { continue }
                // The path walked the forward chain unless an earlier hop broke it: ask only then.
                let walked = path.egress == egress.name ? path.hops.first { $0.name == .forwardChain } : nil
                guard let hop = walked ?? host.forwardChainHop(port, from: ingress, to: egress), hop.passes == false
                else { continue }
                blocked.append((egress, port, ingress, hop))
            }
        }
        var egresses: [Link] = []
        for entry in blocked where !egresses.contains(where: { $0.index == entry.egress.index }) {
            egresses.append(entry.egress)
        }
        return egresses.map { egress in
            let entries = blocked.filter { $0.egress.index == egress.index }
            let ports = unique(entries.map(\.port.subject))
            let ingress = unique(entries.map(\.ingress.name))
            let reasons = unique(entries.map(\.hop.detail))
            return finding(
                subject: egress.name,
                message: Message.blocked(
                    egress: egress.name, ports: unique(entries.map { "\($0.port.subject) -> \($0.port.destination)" }),
                    ingress: ingress, reasons: reasons),
                fix: unique(entries.compactMap(\.hop.fix)).joined(separator: "; "),
                interface: egress.name,
                evidence: [
                    Evidence("bridge", egress.name), Evidence("ports", ports.joined(separator: ",")),
                    Evidence("ingress", ingress.joined(separator: ",")),
                    Evidence(
                        "dropped_by",
                        reasons.map { $0.hasPrefix("dropped by ") ? String($0.dropFirst(11)) : $0 }
                            .joined(separator: "; ")),
                ] + host.dropObservationEvidence(ports: ports))
        }
    }

    private func unique(_ values: [String]) -> [String] {
        values.reduce(into: []) { result, value in if !result.contains(value) { result.append(value) } }
    }

    enum Message {
        static func blocked(egress: String, ports: [String], ingress: [String], reasons: [String]) -> String {
            "The forward chain drops new connections from \(ingress.joined(separator: ", ")) to \(egress) for "
                + "\(ports.joined(separator: ", ")): \(reasons.joined(separator: "; "))."
        }
    }
}
