/// Bridged traffic bypasses iptables (br_netfilter not loaded, or bridge-nf-call-iptables=0):
/// rules meant to filter or NAT traffic between containers on one bridge do not apply.
public struct BridgeNetfilterCallDisabled: Rule {
    public init() {}
    public let id: RuleID = "bridge-nf-call-disabled"
    public let defaultSeverity = Severity.info
    public let title = "Bridged traffic bypasses iptables (bridge-nf-call-iptables off)"
    public let messageID = "d43bc85bd46b4ff68462fe9129f9bf46"

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.needsForwarding else { return [] }
        let state: String
        if let filter = host.snapshot.bridgeNetfilter {
            guard filter.callIptables == 0 else { return [] }
            state = "0"
        } else {
            state = "br_netfilter not loaded"
        }
        return [
            finding(
                subject: Self.subject, message: Message.disabled(state: state), fix: Message.fix(loaded: state == "0"),
                evidence: [Evidence("sysctl", Self.subject), Evidence("value", state)])
        ]
    }

    static let subject = "net.bridge.bridge-nf-call-iptables"

    enum Message {
        static func disabled(state: String) -> String {
            "Traffic between ports of one bridge bypasses iptables (bridge-nf-call-iptables: \(state)): "
                + "filter and NAT rules do not see container-to-container traffic on the same bridge "
                + "(Kubernetes needs it on; plain Docker hosts usually do not)."
        }
        static func fix(loaded: Bool) -> String {
            loaded
                ? "sysctl -w net.bridge.bridge-nf-call-iptables=1"
                : "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1"
        }
    }
}
