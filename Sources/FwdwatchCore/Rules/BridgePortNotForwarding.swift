/// A port of an up bridge is down or not in the STP forwarding state: the container or VM behind
/// it is cut off.
public struct BridgePortNotForwarding: Rule {
    public init() {}
    public let id: RuleID = "bridge-port-not-forwarding"
    public let defaultSeverity = Severity.critical
    public let title = "A bridge port is down or not forwarding"
    public let messageID = "1752b76e0e1f4d7ebe6c6b9655d349b8"
    /// A container start passes through this state for a moment (veth attached before its peer is up).
    public let settleSeconds = 5.0

    public func evaluate(_ host: HostView) -> [Finding] {
        host.bridgesWithPorts.flatMap { bridge -> [Finding] in
            // A bridge that is down disables every port; bridge-down reports that.
            guard bridge.adminUp else { return [] }
            return host.ports(of: bridge).compactMap { port in
                guard !host.settings.isIgnored(port.name) else { return nil }
                let problem: String
                let fix: String
                if !port.adminUp {
                    problem = "is administratively down"
                    fix = "ip link set dev \(port.name) up"
                } else if !port.carrier {
                    problem = "has no carrier (its peer is down or gone)"
                    fix = "ip link show \(port.name)  # bring up the peer inside the container or VM, or restart it"
                } else if let state = port.bridgePortState, state != .forwarding {
                    problem = "is in STP state \(state.rawValue), not forwarding"
                    fix =
                        state == .blocking || state == .disabled
                        ? "bridge link set dev \(port.name) state 3  # or fix the loop STP blocked it for"
                        : "wait for STP to finish (forward delay), or: ip link set dev \(bridge.name) type bridge stp_state 0"
                } else {
                    return nil
                }
                return finding(
                    subject: "\(bridge.name)/\(port.name)",
                    message: Message.notForwarding(port: port.name, bridge: bridge.name, problem: problem),
                    fix: fix, interface: port.name,
                    evidence: [
                        Evidence("bridge", bridge.name), Evidence("port", port.name),
                        Evidence("admin_up", String(port.adminUp)), Evidence("carrier", String(port.carrier)),
                        Evidence("stp_state", port.bridgePortState?.rawValue ?? "unknown"),
                    ])
            }
        }
    }

    enum Message {
        static func notForwarding(port: String, bridge: String, problem: String) -> String {
            "Port \(port) of bridge \(bridge) \(problem): the container or VM behind it can neither be "
                + "reached nor reach anything."
        }
    }
}
