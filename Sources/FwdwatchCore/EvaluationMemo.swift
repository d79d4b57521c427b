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
    /// The last few walks, newest first: each with its snapshot, the paths per port, and each port's model
    /// disagreements. A new walk starts from the one it differs least from and walks again only the ports
    /// whose paths cross an interface that changed; keeping more than the last one makes a sysctl flipped
    /// back (forwarding 0, then 1 again) cost no walk at all.
    var walks: [(snapshot: Snapshot, paths: [[PortPath]], disagreements: [[String]])] = []
    static let walksKept = 3
    /// Forward-chain verdicts by packet; shared with the views built from this memo, filled as they walk.
    var forwardHops = ForwardHopCache()
    /// `indexPorts()`'s lookups for `ports`.
    var portIndex: (byTarget: [String: [Int]], subjectCounts: [String: Int])?
    /// Findings of the rules that read only the rules, the links, the addresses and the published ports
    /// (`HostView.remembered`); emptied whenever one of those changes.
    var topologyFindings = FindingsCache()

    /// The kernel's route answers indexed (`HostView.routeAnswerIndex`): they do not depend on the rules,
    /// so a new rule set keeps them.
    var routeAnswers: (decisions: [RouteDecision], answers: [RouteQuestion: RouteAnswer], refusing: Set<String>)?

    public init() {}

    init(keepingRouteAnswersOf previous: EvaluationMemo) {
        routeAnswers = previous.routeAnswers
    }
}

/// Forward-chain hops by probe packet, filled by the views of one rule set (a class so the walks, which
/// run in non-mutating code, can add to it; guarded by a mutex so views may be shared across tasks).
final class ForwardHopCache: Sendable {
    private let hops = Mutex<[Key: PathHop]>([:])

    /// The probe packet a verdict is for: numbers, not text, so a lookup costs a few hashes.
    struct Key: Hashable {
        var prerouting: Bool
        var destination: UInt32
        var transport: String
        var port: UInt16
        var ingress: Int32
        var egress: Int32
        var local: Bool
        /// The representative clients walked, joined.
        var clients: String
    }

    func hop(_ key: Key) -> PathHop? { hops.withLock { $0[key] } }
    func store(_ hop: PathHop, _ key: Key) { hops.withLock { $0[key] = hop } }
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

/// Findings by rule, for rules whose inputs change only with the rules or the topology.
final class FindingsCache: Sendable {
    private let findings = Mutex<[RuleID: [Finding]]>([:])

    func findings(_ rule: RuleID, compute: () -> [Finding]) -> [Finding] {
        if let known = findings.withLock({ $0[rule] }) { return known }
        let fresh = compute()
        findings.withLock { $0[rule] = fresh }
        return fresh
    }
}
