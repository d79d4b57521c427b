/// No IPv4 default route in the main table while the host forwards for bridges: containers and VMs
/// cannot reach anything beyond the directly connected networks.
public struct DefaultRouteMissing: Rule {
    public init() {}
    public let id: RuleID = "default-route-missing"
    public let defaultSeverity = Severity.warning
    public let title = "No IPv4 default route while bridges forward traffic"
    public let messageID = "7c2ae892a0fa4889875a6cc7e5842052"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.needsForwarding else { return [] }
        guard !host.defaultRoutes.contains(where: { $0.type == "unicast" }) else { return [] }
        return [
            finding(
                subject: "0.0.0.0/0", message: Message.missing, fix: Message.fix,
                evidence: [Evidence("main_table_routes", String(host.mainRoutes.count))])
        ]
    }

    enum Message {
        static let missing =
            "The main routing table has no IPv4 default route: containers and VMs behind the bridges cannot "
            + "reach anything beyond the directly connected networks, and replies to distant clients are lost."
        static let fix = "ip route add default via <gateway> dev <uplink>  # and fix the network configuration that lost it"
    }
}
