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
            // The line the 0 comes back from, if one is known.
            let source: PersistentSetting? = host.persistentSource(of: "forwarding", on: link.name, writing: 0)
            var evidence = [
                Evidence("sysctl", key),
                Evidence("value", String(value)),
                Evidence("all_forwarding", "1"),
            ]
            evidence += host.portsEvidence(from: link) + host.dropEvidence
            if let source { evidence.append(Evidence("source", source.location)) }
            evidence += host.dropObservationEvidence(ingress: link.name)
            return finding(
                subject: link.name,
                message: Message.disabled(interface: link.name, key: key, isBridge: link.isBridge, source: source),
                fix: Message.fix(key: key, source: source),
                interface: link.name,
                evidence: evidence)
        }
    }

    enum Message {
        static func disabled(interface: String, key: String, isBridge: Bool, source: PersistentSetting? = nil) -> String {
            let impact =
                isBridge
                ? "packets from the containers or VMs on \(interface) to anywhere else are dropped"
                : "packets arriving on \(interface) for containers or VMs behind the bridges are dropped"
            return "\(interface) has forwarding disabled (\(key)=0) although net.ipv4.ip_forward=1: "
                + "\(impact) silently, counted only in Ip: InAddrErrors; clients just time out. "
                + "Writing ip_forward=1 again and restarting Docker do not repair a per-interface 0."
                + (source.map { " " + $0.comesBackSentence(on: interface) } ?? "")
        }
        /// With `source`, the line the 0 comes back from: the fix says how to make it last.
        static func fix(key: String, source: PersistentSetting? = nil) -> String {
            "sysctl -w \(key)=1" + (source.map { "; " + $0.lastingFix(good: 1) } ?? "")
        }
    }
}
