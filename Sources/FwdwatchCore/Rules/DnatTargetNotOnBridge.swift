/// A DNAT rule publishes a port to an address that no local bridge or interface holds, and no route
/// of its own leads to: the container (or its whole network) is gone and the rule is stale, or the rule
/// was written for another network. Packets for the port go out by the default route, or nowhere.
/// A DNAT to a host behind a specific gateway route (port forwarding to another machine) is left alone,
/// and so is every target while a bridge with ports has no address (`bridge-no-address`).
public struct DnatTargetNotOnBridge: Rule {
    public init() {}
    public let id: RuleID = "dnat-target-not-on-bridge"
    public let defaultSeverity = Severity.warning
    public let title = "A published port's DNAT target is on no local bridge or subnet"
    public let messageID = "065585181ccb4380a31d4ff31d39f4da"

    public func evaluate(_ host: HostView) -> [Finding] {
        // A bridge with ports but no address may well hold the target: bridge-no-address says so.
        guard !host.bridgesWithPorts.contains(where: { host.ipv4(of: $0).isEmpty }) else { return [] }
        return host.publishedPorts.compactMap { port in
            guard let target = port.targetAddress, host.homeInterface(of: target) == nil else { return nil }
            let route = host.route(to: target)
            if let route, route.type == "unicast", route.destination != "0.0.0.0/0", route.outputInterface != nil {
                return nil  // routed on purpose to a network beyond a gateway
            }
            let where_: String
            if let route, route.type == "unicast", let device = host.name(of: route.outputInterface) {
                where_ = "packets for it leave by \(device) on the default route"
            } else {
                where_ = "there is no route to it"
            }
            return finding(
                subject: host.subject(of: port),
                message: Message.stale(port, where_),
                fix: Message.fix(port),
                evidence: [
                    Evidence("target", port.destination), Evidence("dnat_rule", port.rule),
                    Evidence("route", route.map { "\($0.destination) \($0.type)" } ?? "none"),
                ])
        }
    }

    enum Message {
        static func stale(_ port: PublishedPort, _ where_: String) -> String {
            "Published port \(port.subject) is sent by DNAT (\(port.rule)) to \(port.destination), which is on no "
                + "local bridge or interface subnet; \(where_). The container or its network is gone, or the rule "
                + "names the wrong address."
        }
        static func fix(_ port: PublishedPort) -> String {
            "\((port.owner ?? .other).findWorkload(port: port))  # restart the container that publishes \(port.subject), "
                + "or delete the stale DNAT rule (\(port.rule))"
        }
    }
}
