/// The forward chain still accepts new connections to one container port on a bridge (Docker's
/// `-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT`), but no DNAT
/// rule sends any host port there any more: the port mapping was lost (a firewall reload, a flushed
/// nat table, a hand-deleted rule) while the container runs on. Clients of the host port get a
/// refusal or a timeout, and no other hop is broken.
public struct DnatRuleMissing: Rule {
    public init() {}
    public let id: RuleID = "dnat-rule-missing"
    public let defaultSeverity = Severity.critical
    public let title = "A container port is let through the forward chain but no DNAT publishes it"
    public let messageID = "c194a6efcda342b0b4bc69a08acff45b"

    public func evaluate(_ host: HostView) -> [Finding] {
        // Reads the rules, the links and the published ports only: the same until one of them changes.
        host.remembered(id) { findings(host) }
    }

    private func findings(_ host: HostView) -> [Finding] {
        guard let firewall = host.snapshot.firewall else { return [] }
        var seen: Set<String> = []
        var findings: [Finding] = []
        for table in firewall.tables where table.chains.values.contains(where: { $0.base?.hook == .forward }) {
            for name in table.chainOrder {
                guard let chain = table.chains[name] else { continue }
                for (index, rule) in chain.rules.enumerated() {
                    guard let accepted = AcceptedContainerPort(rule, host: host) else { continue }
                    let subject = "\(accepted.address):\(accepted.port)/\(accepted.transport)"
                    guard !seen.contains(subject), !accepted.isPublished(in: host) else { continue }
                    seen.insert(subject)
                    let place = "\(table.id) \(name) #\(index + 1)"
                    findings.append(
                        finding(
                            subject: subject,
                            message: Message.missing(subject, bridge: accepted.bridge, acceptedBy: place),
                            fix: Message.fix(accepted, owner: StackOwner.of(table: table.id, chain: name)),
                            interface: accepted.bridge,
                            evidence: [
                                Evidence("target", "\(accepted.address):\(accepted.port)"),
                                Evidence("bridge", accepted.bridge), Evidence("accept_rule", place),
                                Evidence("dnat_rules", String(firewall.natRules.count)),
                            ]))
                }
            }
        }
        return findings
    }

    /// A rule accepting new connections to exactly one address and port behind a bridge.
    struct AcceptedContainerPort {
        var address: String
        var port: UInt16
        var transport: String
        var bridge: String

        init?(_ rule: FirewallRule, host: HostView) {
            let match = rule.match
            guard rule.target == .accept,
                let destination = match.destination, !destination.negated, destination.prefixes.count == 1,
                let prefix = destination.parsedPrefixes?.first, prefix.length == 32,
                let proto = match.protocolName, !proto.negated, ["tcp", "udp"].contains(proto.name),
                let ports = match.destinationPorts, !ports.negated, ports.ranges.count == 1,
                ports.ranges[0].first == ports.ranges[0].last,
                let out = match.outInterface, !out.negated, out.names.count == 1,
                let bridge = host.link(named: out.names[0]), bridge.isBridge
            else { return nil }
            address = prefix.network.description
            port = ports.ranges[0].first
            transport = proto.name
            self.bridge = bridge.name
        }

        func isPublished(in host: HostView) -> Bool {
            host.publishedPorts(to: address).contains { published in
                guard published.transport == transport else { return false }
                if let targetPort = published.targetPort { return targetPort == port }
                return published.hostPorts.first <= port && port <= published.hostPorts.last
            }
        }
    }

    enum Message {
        static func missing(_ subject: String, bridge: String, acceptedBy place: String) -> String {
            "The forward chain accepts new connections to \(subject) on \(bridge) (\(place)), but no DNAT rule "
                + "publishes it: the port mapping was lost (a firewall reload or a flushed nat table) and clients "
                + "of the host port are refused or time out."
        }
        static func fix(_ accepted: AcceptedContainerPort, owner: StackOwner) -> String {
            owner.rewriteRules(port: PublishedPort(transport: accepted.transport, hostPorts: PortRange(accepted.port), target: accepted.address, rule: ""))
        }
    }
}
