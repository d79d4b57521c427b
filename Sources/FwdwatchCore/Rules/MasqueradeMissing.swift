/// A bridge's subnet has no MASQUERADE or SNAT towards the uplink: containers' connections leave
/// with private source addresses and their replies never come back.
public struct MasqueradeMissing: Rule {
    public init() {}
    public let id: RuleID = "masquerade-missing"
    public let defaultSeverity = Severity.warning
    public let title = "A bridge's subnet is not masqueraded towards the uplink"
    public let messageID = "69147d3b9a364616bb7075cc4721fdc5"

    public func evaluate(_ host: HostView) -> [Finding] {
        // Without the rules, without any NAT on the host (a routed design), or without a way out,
        // there is nothing to say.
        guard let firewall = host.snapshot.firewall,
            firewall.tables.contains(where: { $0.chains.values.contains { $0.base?.type == .nat } }),
            let uplinkIndex = host.defaultRoutes.first(where: { $0.type == "unicast" })?.outputInterface,
            let uplink = host.name(of: uplinkIndex)
        else { return [] }
        let translations = firewall.natRules.filter { located in
            switch located.rule.target {
            case .masquerade?, .snat?: true
            default: false
            }
        }
        return host.bridgesWithPorts.flatMap { bridge -> [Finding] in
            guard bridge.index != uplinkIndex else { return [] }  // a bridged uplink (br0 holding eth0) is not NATed
            return host.ipv4(of: bridge).compactMap { entry in
                let subnet = entry.prefix
                let covered = translations.contains { located in
                    let match = located.rule.match
                    if let out = match.outInterface, !out.matches(uplink) { return false }
                    if let source = match.source, source.matches(subnet.network) != true { return false }
                    return true
                }
                guard !covered else { return nil }
                return finding(
                    subject: subnet.description, message: Message.missing(subnet: subnet, bridge: bridge.name, uplink: uplink),
                    fix: Message.fix(subnet: subnet, bridge: bridge.name), interface: bridge.name,
                    evidence: [
                        Evidence("bridge", bridge.name), Evidence("prefix", subnet.description), Evidence("uplink", uplink),
                        Evidence("nat_rules", String(translations.count)),
                    ])
            }
        }
    }

    enum Message {
        static func missing(subnet: IPv4Prefix, bridge: String, uplink: String) -> String {
            "No MASQUERADE or SNAT rule covers \(subnet) (bridge \(bridge)) leaving by \(uplink): containers' "
                + "connections to the outside leave with private source addresses and get no replies."
        }
        static func fix(subnet: IPv4Prefix, bridge: String) -> String {
            "iptables -t nat -A POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE  # or restart the engine that owns \(bridge)"
        }
    }
}
