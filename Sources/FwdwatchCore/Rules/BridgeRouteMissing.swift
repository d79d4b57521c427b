/// A bridge's subnet has no route out of the bridge in the main table: the host cannot deliver
/// to the containers or VMs on it.
public struct BridgeRouteMissing: Rule {
    public init() {}
    public let id: RuleID = "bridge-route-missing"
    public let defaultSeverity = Severity.critical
    public let title = "A bridge's subnet has no route out of the bridge"
    public let messageID = "c64522be33c443efa58b8d72d4530ad0"

    public func evaluate(_ host: HostView) -> [Finding] {
        host.upBridgeSubnets.compactMap { bridge, address, subnet in
            let present = host.mainRoutes.contains {
                $0.prefix == subnet && $0.route.outputInterface == bridge.index && $0.route.type == "unicast"
            }
            guard !present else { return nil }
            return finding(
                subject: subnet.description,
                message: Message.missing(subnet: subnet, bridge: bridge.name),
                fix: Message.fix(subnet: subnet, bridge: bridge.name, source: address),
                interface: bridge.name,
                evidence: [
                    Evidence("bridge", bridge.name), Evidence("prefix", subnet.description),
                    Evidence("address", "\(address)/\(subnet.length)"),
                ])
        }
    }

    enum Message {
        static func missing(subnet: IPv4Prefix, bridge: String) -> String {
            "The main routing table has no route for \(subnet) via bridge \(bridge): the host cannot deliver "
                + "packets to the containers or VMs on that bridge, published ports and replies included."
        }
        static func fix(subnet: IPv4Prefix, bridge: String, source: IPv4Address) -> String {
            "ip route add \(subnet) dev \(bridge) proto kernel scope link src \(source)"
        }
    }
}
