/// The rules of one chain indexed by what a probe packet is sure to carry: its destination address and
/// its destination port. A packet can only match a rule that names its own /32 destination, or its own
/// single destination port, or that names neither; the index hands out exactly those, in rule order.
/// Built once per rule-set reading, so walking a chain of 10,000 DNATs (Docker) or ClusterIP jumps
/// (kube-proxy) costs a few lookups instead of a scan.
struct ChainIndex: Sendable {
    /// Rules whose destination is a single positive /32, by that address.
    private var byDestination: [UInt32: [Int]] = [:]
    /// Rules (without such a destination) whose destination port is a single positive port, by port.
    private var byPort: [UInt16: [Int]] = [:]
    /// Every other rule.
    private var unkeyed: [Int] = []

    init(_ rules: [FirewallRule]) {
        for (position, rule) in rules.enumerated() {
            let match = rule.match
            if let destination = match.destination, !destination.negated, destination.prefixes.count == 1,
                let prefix = IPv4Prefix(destination.prefixes[0]), prefix.length == 32
            {
                byDestination[prefix.network.value, default: []].append(position)
            } else if let ports = match.destinationPorts, !ports.negated, ports.ranges.count == 1,
                ports.ranges[0].first == ports.ranges[0].last
            {
                byPort[ports.ranges[0].first, default: []].append(position)
            } else {
                unkeyed.append(position)
            }
        }
    }

    /// The positions of the rules a packet to `destination`:`port` may match, ascending; `destination`
    /// nil means any address (every keyed-by-address rule is a candidate).
    func candidates(destination: IPv4Address?, port: UInt16?) -> [Int] {
        var lists: [[Int]] = [unkeyed]
        if let destination {
            if let hits = byDestination[destination.value] { lists.append(hits) }
        } else {
            lists.append(contentsOf: byDestination.values)
        }
        if let port {
            if let hits = byPort[port] { lists.append(hits) }
        } else {
            lists.append(contentsOf: byPort.values)
        }
        let nonEmpty = lists.filter { !$0.isEmpty }
        if nonEmpty.count == 1 { return nonEmpty[0] }
        return nonEmpty.flatMap { $0 }.sorted()
    }
}

/// Every chain of a rule set with its index, by table and name: what the walks read.
public struct RuleSetIndex: Sendable {
    let firewall: FirewallState
    private let indexes: [TableID: [String: ChainIndex]]
    /// Base chains per hook, ordered by priority.
    private let hooks: [NetfilterHook: [(table: FirewallTable, chain: FirewallChain)]]

    public init(_ firewall: FirewallState) {
        self.firewall = firewall
        var indexes: [TableID: [String: ChainIndex]] = [:]
        for table in firewall.tables {
            var chains: [String: ChainIndex] = [:]
            for (name, chain) in table.chains { chains[name] = ChainIndex(chain.rules) }
            indexes[table.id] = chains
        }
        self.indexes = indexes
        var hooks: [NetfilterHook: [(table: FirewallTable, chain: FirewallChain)]] = [:]
        for hook in [NetfilterHook.prerouting, .input, .forward, .output, .postrouting] {
            hooks[hook] = firewall.baseChains(hook: hook)
        }
        self.hooks = hooks
        // The source prefixes the forward chains' rules name (an allow-list, netavark's own subnet): the
        // forward walk adds a client from each, so a rule on the source is decided for real clients.
        var sources: [IPv4Prefix] = []
        var seen: Set<IPv4Prefix> = []
        for table in firewall.tables where table.chains.values.contains(where: { $0.base?.hook == .forward }) {
            for name in table.chainOrder {
                for rule in table.chains[name]?.rules ?? [] {
                    guard let source = rule.match.source, !source.negated else { continue }
                    for text in source.prefixes {
                        guard let prefix = IPv4Prefix(text), prefix.length > 0, seen.insert(prefix).inserted else { continue }
                        sources.append(prefix)
                    }
                }
            }
        }
        forwardSourcePrefixes = Array(sources.prefix(16))
    }

    /// Up to 16 source prefixes named by rules of the tables that hook forward, in rule order.
    let forwardSourcePrefixes: [IPv4Prefix]

    func index(_ table: TableID, _ chain: String) -> ChainIndex? { indexes[table]?[chain] }

    func baseChains(_ hook: NetfilterHook) -> [(table: FirewallTable, chain: FirewallChain)] { hooks[hook] ?? [] }
}
