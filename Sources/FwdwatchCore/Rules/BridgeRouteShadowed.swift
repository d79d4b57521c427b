/// Part or all of a bridge's subnet is routed elsewhere: a more specific route, or an equal one
/// with a better metric, sends it out another interface (a LAN or VPN route overlapping 172.17/16).
public struct BridgeRouteShadowed: Rule {
    public init() {}
    public let id: RuleID = "bridge-route-shadowed"
    public let defaultSeverity = Severity.critical
    public let title = "Another route takes traffic for a bridge's subnet elsewhere"
    public let messageID = "b66fd40a86fb4015a35d48a8241e6280"

    public func evaluate(_ host: HostView) -> [Finding] {
        host.upBridgeSubnets.compactMap { bridge, _, subnet in
            let own = host.mainRoutes.filter { $0.prefix == subnet && $0.route.outputInterface == bridge.index }
            let ownMetric = own.map(\.route.metric).min()
            let shadows = host.mainRoutes.filter { candidate in
                guard candidate.route.outputInterface != bridge.index else { return false }
                if candidate.prefix == subnet {
                    guard let ownMetric else { return false }  // bridge-route-missing speaks
                    return candidate.route.metric < ownMetric
                }
                return subnet.contains(candidate.prefix) && candidate.prefix.length > subnet.length
            }
            guard !shadows.isEmpty else { return nil }
            let described = shadows.map { describe($0.route, host: host) }
            return finding(
                subject: subnet.description,
                message: Message.shadowed(subnet: subnet, bridge: bridge.name, by: described),
                fix: Message.fix(shadows.map(\.route), host: host),
                interface: bridge.name,
                evidence: [
                    Evidence("bridge", bridge.name), Evidence("prefix", subnet.description),
                    Evidence("shadowing_routes", described.joined(separator: "; ")),
                ])
        }
    }

    private func describe(_ route: Route, host: HostView) -> String {
        var text = route.type == "unicast" ? route.destination : "\(route.type) \(route.destination)"
        if let gateway = route.gateway { text += " via \(gateway)" }
        if let device = host.name(of: route.outputInterface) { text += " dev \(device)" }
        if route.metric != 0 { text += " metric \(route.metric)" }
        return text
    }

    enum Message {
        static func shadowed(subnet: IPv4Prefix, bridge: String, by routes: [String]) -> String {
            "Traffic for \(subnet) on bridge \(bridge) is routed elsewhere by \(routes.joined(separator: "; ")): "
                + "containers or VMs in the shadowed range cannot be reached, nor can their replies return."
        }
        static func fix(_ routes: [Route], host: HostView) -> String {
            routes.map { route in
                var command = "ip route del \(route.destination)"
                if let device = host.name(of: route.outputInterface) { command += " dev \(device)" }
                if route.metric != 0 { command += " metric \(route.metric)" }
                return command
            }.joined(separator: "; ") + "  # or move the bridge to a subnet that does not overlap"
        }
    }
}
