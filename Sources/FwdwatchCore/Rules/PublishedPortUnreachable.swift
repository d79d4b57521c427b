/// A published port (a DNAT rule) that cannot be reached from one or more ingress interfaces: the
/// incident's checklist run hop by hop for every port, naming the first broken hop for each ingress.
public struct PublishedPortUnreachable: Rule {
    public init() {}
    public let id: RuleID = "published-port-unreachable"
    public let defaultSeverity = Severity.critical
    public let title = "A published port cannot be reached from an ingress interface"
    public let messageID = "7c13e46b00534d618025498c2f21effa"

    /// More ports than this cut off at the same hops from the same interfaces make one finding for all of
    /// them (subject "eth0 ingress-forwarding"), not one each: an uplink with forwarding off on a node with
    /// 10,000 published ports is one problem, and the journal gets one entry for it.
    static let portsPerFinding = 20

    public func evaluate(_ host: HostView) -> [Finding] {
        var groups: [String: [(port: PublishedPort, broken: [PortPath])]] = [:]
        var order: [String] = []
        for (port, paths) in zip(host.publishedPorts, host.portPaths) {
            let broken = paths.filter(\.isBrokenOnHost)
            guard !broken.isEmpty else { continue }
            let key = broken.map { "\($0.ingress) \($0.firstBroken?.name.rawValue ?? "")" }.joined(separator: ", ")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append((port, broken))
        }
        var findings: [Finding] = []
        for key in order {
            let members = groups[key]!
            if members.count > Self.portsPerFinding {
                findings.append(groupFinding(key, members, host: host))
            } else {
                findings += members.map { finding(for: $0.port, broken: $0.broken, host: host) }
            }
        }
        return findings
    }

    private func finding(for port: PublishedPort, broken: [PortPath], host: HostView) -> Finding {
        let reasons = broken.compactMap { path in path.firstBroken.map { "\(path.ingress) because \($0.detail)" } }
        return finding(
            subject: host.subject(of: port),
            message: Message.unreachable(
                port, reasons: reasons,
                refused: broken.allSatisfy { $0.firstBroken.map(Message.refuses) ?? false }),
            fix: uniqueFixes(broken).joined(separator: "; "),
            interface: broken.count == 1 ? broken[0].ingress : nil,
            evidence: [
                Evidence("target", port.destination),
                Evidence("ingress", broken.map(\.ingress).joined(separator: ",")),
                Evidence("hop", broken.compactMap { $0.firstBroken?.name.rawValue }.joined(separator: ",")),
                Evidence("dnat_rule", port.rule),
            ] + (port.translatedPackets.map { [Evidence("dnat_packets", String($0))] } ?? [])
                + host.dropObservationEvidence(ports: [port.subject]))
    }

    /// One finding for the many ports cut off at the same hops from the same interfaces; the first
    /// port's reasons stand for all (the hops are the same, the details name its target).
    private func groupFinding(_ key: String, _ members: [(port: PublishedPort, broken: [PortPath])], host: HostView) -> Finding {
        let first = members[0]
        let reasons = first.broken.compactMap { path in path.firstBroken.map { "\(path.ingress) because \($0.detail)" } }
        var subjects: [String] = []
        var seen: Set<String> = []
        for member in members where seen.insert(member.port.subject).inserted { subjects.append(member.port.subject) }
        let fixes = uniqueFixes(members.prefix(Self.portsPerFinding).flatMap(\.broken))
        return finding(
            subject: key,
            message: Message.unreachable(
                ports: members.count, examples: members.prefix(3).map { "\($0.port.subject) -> \($0.port.destination)" },
                reasons: reasons,
                refused: first.broken.allSatisfy { $0.firstBroken.map(Message.refuses) ?? false }),
            fix: (fixes.prefix(3) + (fixes.count > 3 ? ["and the like for the other ports (fwdwatch check --json)"] : []))
                .joined(separator: "; "),
            interface: first.broken.count == 1 ? first.broken[0].ingress : nil,
            evidence: [
                Evidence("ports_count", String(members.count)),
                Evidence("ports", subjects.prefix(Self.portsPerFinding).joined(separator: ",")
                    + (subjects.count > Self.portsPerFinding ? ",..." : "")),
                Evidence("ingress", first.broken.map(\.ingress).joined(separator: ",")),
                Evidence("hop", first.broken.compactMap { $0.firstBroken?.name.rawValue }.joined(separator: ",")),
            ] + host.dropObservationEvidence(ports: subjects))
    }

    private func uniqueFixes(_ paths: some Sequence<PortPath>) -> [String] {
        paths.compactMap(\.firstBroken?.fix).reduce(into: [String]()) { fixes, fix in
            if !fixes.contains(fix) { fixes.append(fix) }
        }
    }

    enum Message {
        static func unreachable(_ port: PublishedPort, reasons: [String], refused: Bool = false) -> String {
            "Published port \(port.subject) -> \(port.destination) is unreachable from \(reasons.joined(separator: "; from ")): "
                + (refused ? "clients there are refused at once." : "clients there time out.")
        }

        static func unreachable(ports: Int, examples: [String], reasons: [String], refused: Bool) -> String {
            "\(ports) published ports (\(examples.joined(separator: ", ")), ...) are unreachable from "
                + "\(reasons.joined(separator: "; from ")) (for the first of them; the others break at the same hop): "
                + (refused ? "clients there are refused at once." : "clients there time out.")
        }

        /// A REJECT answers the client (a TCP reset or an ICMP error) instead of leaving it to time out.
        static func refuses(_ hop: PathHop) -> Bool {
            (hop.name == .forwardChain || hop.name == .preroutingFilter)
                && (hop.detail.contains("-j REJECT") || hop.detail.contains(" reject"))
        }
    }
}
