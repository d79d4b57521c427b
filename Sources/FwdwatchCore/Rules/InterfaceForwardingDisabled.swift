/// The incident: `net.ipv4.conf.<iface>.forwarding=0` on an interface traffic must be forwarded
/// from, while `all` is 1. The kernel drops such packets silently, counting only `Ip: InAddrErrors`.
public struct InterfaceForwardingDisabled: Rule {
    public init() {}
    public let id: RuleID = "interface-forwarding-disabled"
    public let defaultSeverity = Severity.critical
    public let title = "An interface traffic is forwarded from has forwarding=0"
    public let messageID = "3c6e1a8f0b7d4e2a8f5c9d1b7e4a2c02"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.needsForwarding else { return [] }
        // With `all` at 0, ip-forwarding-disabled speaks; writing all=1 also repairs every interface.
        guard host.allConf?.forwarding == 1 else { return [] }
        return host.ingressInterfaces.compactMap { link in
            guard let value = host.conf(link)?.forwarding, value == 0 else { return nil }
            let key = HostView.sysctlKey(link.name, "forwarding")
            return finding(
                subject: link.name,
                message: Message.disabled(interface: link.name, key: key, isBridge: link.isBridge),
                fix: Message.fix(key: key),
                interface: link.name,
                evidence: [
                    Evidence("sysctl", key),
                    Evidence("value", String(value)),
                    Evidence("all_forwarding", "1"),
                ] + host.portsEvidence(from: link) + host.dropEvidence)
        }
    }

    enum Message {
        static func disabled(interface: String, key: String, isBridge: Bool) -> String {
            let impact =
                isBridge
                ? "packets from the containers or VMs on \(interface) to anywhere else are dropped"
                : "packets arriving on \(interface) for containers or VMs behind the bridges are dropped"
            return "\(interface) has forwarding disabled (\(key)=0) although net.ipv4.ip_forward=1: "
                + "\(impact) silently, counted only in Ip: InAddrErrors; clients just time out. "
                + "Writing ip_forward=1 again and restarting Docker do not repair a per-interface 0."
        }
        static func fix(key: String) -> String { "sysctl -w \(key)=1" }
    }
}
