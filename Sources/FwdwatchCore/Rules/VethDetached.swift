/// A veth that is up but attached to no bridge, with no address and no route through it: whatever is
/// behind it (a container whose port was detached from its bridge) is unreachable. Routed designs
/// (Calico's cali* veths) have host routes through the veth and do not match.
public struct VethDetached: Rule {
    public init() {}
    public let id: RuleID = "veth-detached"
    public let defaultSeverity = Severity.warning
    public let title = "A veth is attached to no bridge and nothing routes to it"
    public let messageID = "aad197e553b9459b937d9e7645f86651"
    /// A container start passes through this state for a moment (veth attached before its peer is up).
    public let settleSeconds = 5.0

    public func evaluate(_ host: HostView) -> [Finding] {
        guard !host.bridges.isEmpty else { return [] }
        let routed = Set(host.mainRoutes.compactMap(\.route.outputInterface))
        return host.snapshot.links.compactMap { link in
            guard link.kind == "veth", link.adminUp, link.master == nil else { return nil }
            guard host.ipv4(of: link).isEmpty, !routed.contains(link.index) else { return nil }
            return finding(
                subject: link.name, message: Message.detached(link.name, bridges: host.bridges.map(\.name)),
                fix: Message.fix(link.name, bridge: host.bridges.count == 1 ? host.bridges[0].name : nil),
                interface: link.name,
                evidence: [Evidence("master", "none"), Evidence("ipv4_addresses", "0"), Evidence("routes", "0")])
        }.sorted { $0.subject < $1.subject }
    }

    enum Message {
        static func detached(_ veth: String, bridges: [String]) -> String {
            "veth \(veth) is up but attached to no bridge (bridges here: \(bridges.joined(separator: ", "))), has no "
                + "address and no route leads to it: the container or VM behind it is cut off."
        }
        static func fix(_ veth: String, bridge: String?) -> String {
            "ip link set dev \(veth) master \(bridge ?? "<bridge>")  # or restart the container so its engine re-attaches it"
        }
    }
}
