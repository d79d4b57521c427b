/// A published port (a DNAT rule) that cannot be reached from one or more ingress interfaces: the
/// incident's checklist run hop by hop for every port, naming the first broken hop for each ingress.
public struct PublishedPortUnreachable: Rule {
    public init() {}
    public let id: RuleID = "published-port-unreachable"
    public let defaultSeverity = Severity.critical
    public let title = "A published port cannot be reached from an ingress interface"
    public let messageID = "7c13e46b00534d618025498c2f21effa"

    public func evaluate(_ host: HostView) -> [Finding] {
        zip(host.publishedPorts, host.portPaths).compactMap { port, paths in
            let broken = paths.filter(\.isBrokenOnHost)
            guard !broken.isEmpty else { return nil }
            let subject = host.subject(of: port)
            let reasons = broken.compactMap { path in path.firstBroken.map { "\(path.ingress) because \($0.detail)" } }
            let fixes = broken.compactMap(\.firstBroken?.fix).reduce(into: [String]()) { fixes, fix in
                if !fixes.contains(fix) { fixes.append(fix) }
            }
            return finding(
                subject: subject,
                message: Message.unreachable(
                    port, reasons: reasons,
                    refused: broken.allSatisfy { $0.firstBroken.map(Message.refuses) ?? false }),
                fix: fixes.joined(separator: "; "),
                interface: broken.count == 1 ? broken[0].ingress : nil,
                evidence: [
                    Evidence("target", port.destination),
                    Evidence("ingress", broken.map(\.ingress).joined(separator: ",")),
                    Evidence("hop", broken.compactMap { $0.firstBroken?.name.rawValue }.joined(separator: ",")),
                    Evidence("dnat_rule", port.rule),
                ] + (port.translatedPackets.map { [Evidence("dnat_packets", String($0))] } ?? [])
                    + host.dropObservationEvidence(ports: [port.subject]))
        }
    }

    enum Message {
        static func unreachable(_ port: PublishedPort, reasons: [String], refused: Bool = false) -> String {
            "Published port \(port.subject) -> \(port.destination) is unreachable from \(reasons.joined(separator: "; from ")): "
                + (refused ? "clients there are refused at once." : "clients there time out.")
        }

        /// A REJECT answers the client (a TCP reset or an ICMP error) instead of leaving it to time out.
        static func refuses(_ hop: PathHop) -> Bool {
            (hop.name == .forwardChain || hop.name == .preroutingFilter)
                && (hop.detail.contains("-j REJECT") || hop.detail.contains(" reject"))
        }
    }
}
