/// A bridge with ports and no IPv4 address: its containers or VMs have no gateway on the host.
public struct BridgeNoAddress: Rule {
    public init() {}
    public let id: RuleID = "bridge-no-address"
    public let defaultSeverity = Severity.warning
    public let title = "A bridge with ports has no IPv4 address"
    public let messageID = "2cdc1ba5474f47419dff7859b0bfd9e9"

    public func evaluate(_ host: HostView) -> [Finding] {
        host.bridgesWithPorts.compactMap { bridge in
            guard bridge.adminUp, host.ipv4(of: bridge).isEmpty else { return nil }
            return finding(
                subject: bridge.name, message: Message.noAddress(bridge.name), fix: Message.fix(bridge.name),
                interface: bridge.name,
                evidence: [Evidence("ipv4_addresses", "0"), Evidence("ports", String(host.ports(of: bridge).count))])
        }
    }

    enum Message {
        static func noAddress(_ bridge: String) -> String {
            "Bridge \(bridge) has ports but no IPv4 address: the containers or VMs behind it have no gateway on "
                + "this host, so their traffic is neither routed nor NATed (fine only for a pure layer-2 bridge)."
        }
        static func fix(_ bridge: String) -> String {
            "ip address add <gateway>/<prefix> dev \(bridge)  # Docker's docker0: 172.17.0.1/16, or restart the engine that owns it"
        }
    }
}
