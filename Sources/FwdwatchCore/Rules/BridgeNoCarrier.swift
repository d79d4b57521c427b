/// A bridge that is up and has an up port, yet reports no carrier: no port is forwarding.
public struct BridgeNoCarrier: Rule {
    public init() {}
    public let id: RuleID = "bridge-no-carrier"
    public let defaultSeverity = Severity.critical
    public let title = "A bridge is up with an up port but has no carrier"
    public let messageID = "aa0f9f1d224649c69cd886ef8382dabd"
    /// A container start passes through this state for a moment (veth attached before its peer is up).
    public let settleSeconds = 5.0

    public func evaluate(_ host: HostView) -> [Finding] {
        host.bridgesWithPorts.compactMap { bridge in
            guard bridge.adminUp, !bridge.carrier else { return nil }
            let upPorts = host.ports(of: bridge).filter { host.isUp($0) }
            guard !upPorts.isEmpty else { return nil }
            return finding(
                subject: bridge.name, message: Message.noCarrier(bridge.name, upPorts: upPorts.map(\.name)),
                fix: Message.fix(bridge.name), interface: bridge.name,
                evidence: [
                    Evidence("carrier", "false"), Evidence("oper_state", bridge.operState),
                    Evidence("up_ports", upPorts.map(\.name).joined(separator: ",")),
                ])
        }
    }

    enum Message {
        static func noCarrier(_ bridge: String, upPorts: [String]) -> String {
            let ports = upPorts.count == 1 ? "port \(upPorts[0]) is" : "ports \(upPorts.joined(separator: ", ")) are"
            return "Bridge \(bridge) is up and \(ports) up, but the bridge has no "
                + "carrier: no port is in the forwarding state, so the bridge passes no traffic."
        }
        static func fix(_ bridge: String) -> String {
            "bridge link show master \(bridge)  # find the port stuck outside 'forwarding' (STP), then check its peer"
        }
    }
}
