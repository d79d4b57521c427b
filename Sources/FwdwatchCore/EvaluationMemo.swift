import Synchronization

/// What an evaluation leaves for the next one, so that the daemon pays for a netconf event (a sysctl
/// flip, a route change) only the walks, not the rules: the rule index and every forward-chain verdict
/// while the rules are unchanged, the published ports and their ingresses while the links and addresses
/// are unchanged too. The caller says when the rules changed (`rulesVersion`): comparing rule sets of
/// tens of thousands of rules on every event would cost more than it saves.
public struct EvaluationMemo: Sendable {
    var rulesVersion: Int?
    var ruleIndex: RuleSetIndex?
    /// `HostView.topologyKey` of the links and addresses the ports were found on.
    var topologyKey: Int?
    var ports: (ports: [PublishedPort], ingresses: [[Int32]])?
    /// The last walk: its snapshot, the paths per port, and each port's model disagreements (reused for
    /// the ports an interface-local change does not touch).
    var walked: (snapshot: Snapshot, paths: [[PortPath]], disagreements: [[String]])?
    /// Forward-chain verdicts by packet; shared with the views built from this memo, filled as they walk.
    var forwardHops = ForwardHopCache()

    public init() {}
}

/// Forward-chain hops by probe packet, filled by the views of one rule set (a class so the walks, which
/// run in non-mutating code, can add to it; guarded by a mutex so views may be shared across tasks).
final class ForwardHopCache: Sendable {
    private let hops = Mutex<[String: PathHop]>([:])

    func hop(_ key: String) -> PathHop? { hops.withLock { $0[key] } }
    func store(_ hop: PathHop, _ key: String) { hops.withLock { $0[key] = hop } }
}

extension HostView {
    /// A hash of what port discovery reads besides the rules: every link's identity and state, every
    /// IPv4 address, the local table, and the settings that choose ingress interfaces.
    static func topologyKey(_ snapshot: Snapshot, settings: Settings) -> Int {
        var hasher = Hasher()
        for link in snapshot.links {
            hasher.combine(link.index)
            hasher.combine(link.name)
            hasher.combine(link.kind)
            hasher.combine(link.adminUp)
            hasher.combine(link.carrier)
            hasher.combine(link.loopback)
            hasher.combine(link.master)
        }
        for address in snapshot.addresses where address.family == .ipv4 {
            hasher.combine(address.interfaceIndex)
            hasher.combine(address.address)
            hasher.combine(address.prefixLength)
        }
        for route in snapshot.routes where route.table == Route.localTable {
            hasher.combine(route.destination)
        }
        hasher.combine(settings.ignoredInterfaces.map(\.pattern))
        return hasher.finalize()
    }
}
