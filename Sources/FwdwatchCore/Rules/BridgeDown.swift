/// A watched bridge with ports is administratively down: nothing behind it is reachable.
public struct BridgeDown: Rule {
    public init() {}
    public let id: RuleID = "bridge-down"
    public let defaultSeverity = Severity.critical
    public let title = "A bridge with ports is down"
    public let messageID = "bc6ee24ca5df46bab9fb6ef02ad9e0f6"

    public func evaluate(_ host: HostView) -> [Finding] {
        host.bridgesWithPorts.compactMap { bridge in
            guard !bridge.adminUp else { return nil }
            let ports = host.ports(of: bridge).map(\.name)
            return finding(
                subject: bridge.name, message: Message.down(bridge.name, ports: ports.count),
                fix: Message.fix(bridge.name), interface: bridge.name,
                evidence: [
                    Evidence("admin_up", "false"), Evidence("oper_state", bridge.operState),
                    Evidence("ports", ports.joined(separator: ",")),
                ])
        }
    }

    enum Message {
        static func down(_ bridge: String, ports: Int) -> String {
            "Bridge \(bridge) is down while \(ports) port\(ports == 1 ? " is" : "s are") attached: the containers "
                + "or VMs behind it can neither be reached nor reach anything."
        }
        static func fix(_ bridge: String) -> String { "ip link set dev \(bridge) up" }
    }
}
