/// A bridge's subnet is not masqueraded on its way out: containers' connections leave with private
/// source addresses and their replies never come back.
///
/// Judged where the containers' traffic really goes: for each representative client of the host's
/// interfaces (its subnets, the routes through it, the default route), the kernel's route lookup from
/// the bridge (or, without it, the main table) names the interface the traffic leaves by; the nat
/// postrouting chains are then walked with that packet, following jumps and marks. A network the forward
/// chain keeps inside (Docker `--internal`, libvirt isolated networks) needs no masquerade, and neither
/// does a host without any NAT rule (a routed design), nor traffic between the host's own bridges.
public struct MasqueradeMissing: Rule {
    public init() {}
    public let id: RuleID = "masquerade-missing"
    public let defaultSeverity = Severity.warning
    public let title = "A bridge's subnet is not masqueraded towards the uplink"
    public let messageID = "69147d3b9a364616bb7075cc4721fdc5"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard let rules = host.ruleIndex,
            host.snapshot.firewall?.tables.contains(where: { $0.chains.values.contains { $0.base?.type == .nat } }) == true
        else { return [] }
        var findings: [Finding] = []
        for sample in host.containerSamples() {
            var uplinks: [String] = []
            for ingress in host.ingressInterfaces where !host.isContainerBridge(ingress) {
                // The LAN and the internet; not the routes through a gateway, which often lead to other
                // container networks (pods on other nodes) that are routed on purpose, not masqueraded.
                for client in host.clients(of: ingress) where client.kind == .subnet || client.kind == .defaultRoute {
                    guard let out = host.outgoingInterface(from: sample.bridge, source: sample.address, to: client.address),
                        out.index != sample.bridge.index, !host.isContainerBridge(out), !uplinks.contains(out.name)
                    else { continue }
                    let packet = ProbePacket(
                        inInterface: sample.bridge.name, outInterface: out.name, source: sample.address,
                        destination: client.address, destinationIsLocal: false, transport: "tcp", destinationPort: 443,
                        mark: 0, translated: false)
                    // Only traffic the forward chain lets out needs a masquerade.
                    let forward = PacketWalk(rules: rules, packet: packet).walk(.forward)
                    guard forward.passes, forward.drops.isEmpty else { continue }
                    let nat = PacketWalk(rules: rules, packet: packet).walk(.postrouting, natOnly: true)
                    guard nat.sourceTranslations.isEmpty else { continue }
                    uplinks.append(out.name)
                }
            }
            guard !uplinks.isEmpty else { continue }
            findings.append(
                finding(
                    subject: sample.subnet.description,
                    message: Message.missing(subnet: sample.subnet, bridge: sample.bridge.name, uplinks: uplinks),
                    fix: Message.fix(subnet: sample.subnet, bridge: sample.bridge.name), interface: sample.bridge.name,
                    evidence: [
                        Evidence("bridge", sample.bridge.name), Evidence("prefix", sample.subnet.description),
                        Evidence("uplink", uplinks.joined(separator: ",")),
                        Evidence("nat_rules", String(host.sourceTranslationCount)),
                    ]))
        }
        return findings
    }

    enum Message {
        static func missing(subnet: IPv4Prefix, bridge: String, uplinks: [String]) -> String {
            "No MASQUERADE or SNAT rule covers \(subnet) (bridge \(bridge)) leaving by \(uplinks.joined(separator: ", ")): "
                + "containers' connections to the outside leave with private source addresses and get no replies."
        }
        static func fix(subnet: IPv4Prefix, bridge: String) -> String {
            "iptables -t nat -A POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE  # or restart the engine that owns \(bridge)"
        }
    }
}

extension HostView {
    /// How many MASQUERADE and SNAT rules the host has, for evidence.
    var sourceTranslationCount: Int {
        snapshot.firewall?.natRules.count { located in
            switch located.rule.target {
            case .masquerade?, .snat?: true
            default: false
            }
        } ?? 0
    }

    /// The interface a packet from `source` arriving on `bridge` for `destination` leaves by: the kernel's
    /// answer where it was asked, else the main table's route.
    func outgoingInterface(from bridge: Link, source: IPv4Address, to destination: IPv4Address) -> Link? {
        let question = RouteQuestion(inputInterface: bridge.name, source: "\(source)", destination: "\(destination)")
        if let answer = routeAnswers[question] {
            guard case .route(let type, let out?, _) = answer, type == "unicast" else { return nil }
            return linksByName[out]
        }
        guard let route = route(to: destination), route.type == "unicast" else { return nil }
        return name(of: route.outputInterface).flatMap { linksByName[$0] }
    }

    /// A bridge whose ports are all veths: containers' or VMs' network, not the host's own LAN bridge
    /// (which holds a physical NIC).
    func isContainerBridge(_ link: Link) -> Bool {
        link.isBridge && !ports(of: link).isEmpty && ports(of: link).allSatisfy { $0.kind == "veth" || $0.kind == "tun" }
    }
}
