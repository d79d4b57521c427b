/// The host's IPv4 netfilter rules that decide the path of forwarded and published-port traffic, read
/// from `iptables-save` (nf_tables or legacy backend) and `nft -j list ruleset` into one model.
///
/// Every backend becomes a list of tables holding chains; a base chain records the netfilter hook it is
/// attached to, so an evaluator walks iptables' `filter FORWARD` and a native nftables `hook forward`
/// chain the same way. Jumps into user chains (`DOCKER-USER`, `DOCKER`, `DOCKER-ISOLATION-STAGE-1`, ...)
/// stay jumps: the evaluator follows them through `FirewallTable.chains`.
public struct FirewallState: Codable, Sendable, Equatable {
    /// The tables in reading order: iptables (nf_tables backend), iptables-legacy, then native nftables.
    public var tables: [FirewallTable]
    /// What could not be read or parsed, one sentence each with its origin (tool, line or rule handle);
    /// the rule concerned was skipped.
    public var problems: [String]

    public init(tables: [FirewallTable] = [], problems: [String] = []) {
        self.tables = tables
        self.problems = problems
    }

    /// The backends that contributed at least one table.
    public var backends: [FirewallBackend] {
        var seen: [FirewallBackend] = []
        for table in tables where !seen.contains(table.backend) { seen.append(table.backend) }
        return seen
    }

    /// Every DNAT, SNAT, MASQUERADE and REDIRECT rule of every table, in table and chain order.
    public var natRules: [LocatedRule] {
        tables.flatMap { table in
            table.chainOrder.compactMap { table.chains[$0] }.flatMap { chain in
                chain.rules.enumerated().compactMap { index, rule in
                    rule.target?.isAddressTranslation == true
                        ? LocatedRule(table: table.id, chain: chain.name, position: index + 1, rule: rule) : nil
                }
            }
        }
    }

    /// The base chains attached to `hook`, each with its table, ordered by priority (lower runs first).
    /// A packet passes the hook only if no base chain drops it: an accept ends one base chain only.
    public func baseChains(hook: NetfilterHook) -> [(table: FirewallTable, chain: FirewallChain)] {
        var found: [(table: FirewallTable, chain: FirewallChain)] = []
        for table in tables {
            for name in table.chainOrder {
                guard let chain = table.chains[name], let base = chain.base, base.hook == hook else { continue }
                found.append((table, chain))
            }
        }
        // Stable: equal priorities keep reading order.
        return found.enumerated().sorted { a, b in
            let pa = a.element.chain.base?.priority ?? 0
            let pb = b.element.chain.base?.priority ?? 0
            return pa != pb ? pa < pb : a.offset < b.offset
        }.map(\.element)
    }

    /// The default verdict for a forwarded packet that no rule decides: `.drop` when any base chain on the
    /// forward hook has policy drop, `.accept` when there are such chains and all accept, nil when no
    /// table hooks forward.
    public var forwardPolicy: Verdict? {
        let chains = baseChains(hook: .forward)
        guard !chains.isEmpty else { return nil }
        return chains.contains { $0.chain.base?.policy == .drop } ? .drop : .accept
    }

    /// The table with this family and name, if read (e.g. `table(.ip, "nat", backend: .iptablesNFT)`).
    public func table(_ family: TableFamily, _ name: String, backend: FirewallBackend? = nil) -> FirewallTable? {
        tables.first { $0.family == family && $0.name == name && (backend == nil || $0.backend == backend) }
    }
}

/// Which tool and kernel interface holds a table.
public enum FirewallBackend: String, Codable, Sendable, Equatable, CaseIterable {
    /// `iptables` on the nf_tables kernel API (Debian's default `iptables`, what Docker writes there).
    case iptablesNFT = "iptables-nft"
    /// `iptables-legacy` on the x_tables kernel API.
    case iptablesLegacy = "iptables-legacy"
    /// Native nftables tables (firewalld, netavark, Docker 29's nftables mode, nftables.conf).
    case nftables
}

/// The address family of a table. Only IPv4-relevant families are read.
public enum TableFamily: String, Codable, Sendable, Equatable {
    /// IPv4 only (iptables tables are always `ip`).
    case ip
    /// IPv4 and IPv6 (nftables).
    case inet
}

/// Identifies a table across backends.
public struct TableID: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var backend: FirewallBackend
    public var family: TableFamily
    public var name: String

    public init(backend: FirewallBackend, family: TableFamily, name: String) {
        self.backend = backend
        self.family = family
        self.name = name
    }

    public var description: String { "\(backend.rawValue) \(family.rawValue) \(name)" }
}

/// One table: `nat` or `filter` of iptables, or any native nftables table.
public struct FirewallTable: Codable, Sendable, Equatable {
    public var backend: FirewallBackend
    public var family: TableFamily
    public var name: String
    /// Chains by name.
    public var chains: [String: FirewallChain]
    /// Chain names in the order the tool listed them.
    public var chainOrder: [String]

    public init(backend: FirewallBackend, family: TableFamily, name: String, chains: [FirewallChain] = []) {
        self.backend = backend
        self.family = family
        self.name = name
        self.chains = [:]
        self.chainOrder = []
        for chain in chains { add(chain) }
    }

    public var id: TableID { TableID(backend: backend, family: family, name: name) }

    /// Adds a chain, or replaces the one of the same name (keeping its place in `chainOrder`).
    public mutating func add(_ chain: FirewallChain) {
        if chains[chain.name] == nil { chainOrder.append(chain.name) }
        chains[chain.name] = chain
    }
}

/// A netfilter hook a base chain is attached to.
public enum NetfilterHook: String, Codable, Sendable, Equatable {
    case prerouting, input, forward, output, postrouting
}

/// What kind of base chain: `nat` chains see only the first packet of a connection.
public enum ChainType: String, Codable, Sendable, Equatable {
    case filter, nat, route
}

/// How a base chain is attached.
public struct BaseChain: Codable, Sendable, Equatable {
    public var type: ChainType
    public var hook: NetfilterHook
    /// nftables priority (filter = 0, dstnat = -100, srcnat = 100); iptables tables get their fixed ones.
    public var priority: Int
    /// What happens to a packet that reaches the end of the chain.
    public var policy: Verdict

    public init(type: ChainType, hook: NetfilterHook, priority: Int, policy: Verdict) {
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
    }
}

/// A chain and its ordered rules. A user chain (`base == nil`) is entered only by a jump or goto; at its
/// end the packet returns to the rule after the jump.
public struct FirewallChain: Codable, Sendable, Equatable {
    public var name: String
    public var base: BaseChain?
    public var rules: [FirewallRule]
    /// The chain's own packet/byte counters (iptables' `[p:b]` on the chain line: packets that hit the policy).
    public var counters: Counters?

    public init(name: String, base: BaseChain? = nil, rules: [FirewallRule] = [], counters: Counters? = nil) {
        self.name = name
        self.base = base
        self.rules = rules
        self.counters = counters
    }
}

/// A chain policy.
public enum Verdict: String, Codable, Sendable, Equatable {
    case accept, drop
}

/// Packet and byte counters of a rule or chain.
public struct Counters: Codable, Sendable, Equatable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// One rule: all conditions of `match` must hold for `target` to apply.
public struct FirewallRule: Codable, Sendable, Equatable {
    public var match: RuleMatch
    /// nil for a rule without a target (it only counts).
    public var target: RuleTarget?
    /// nil when the tool printed no counters (`iptables-save` without `-c`, an nft rule without `counter`).
    public var counters: Counters?
    /// Where the rule was read: `iptables-save` line number or nftables rule handle, and the rule text
    /// (`-A DOCKER ! -i docker0 ...` as iptables-save printed it, without counters), for evidence.
    public var origin: RuleOrigin

    public init(match: RuleMatch = RuleMatch(), target: RuleTarget?, counters: Counters? = nil, origin: RuleOrigin = RuleOrigin()) {
        self.match = match
        self.target = target
        self.counters = counters
        self.origin = origin
    }
}

/// Where a rule came from.
public struct RuleOrigin: Codable, Sendable, Equatable {
    /// Line number in the `iptables-save` output (1-based).
    public var line: Int?
    /// nftables rule handle.
    public var handle: Int?
    /// The rule as the tool printed it (iptables-save), when available.
    public var text: String?

    public init(line: Int? = nil, handle: Int? = nil, text: String? = nil) {
        self.line = line
        self.handle = handle
        self.text = text
    }
}

/// A rule with its place: what `FirewallState.natRules` returns.
public struct LocatedRule: Codable, Sendable, Equatable {
    public var table: TableID
    public var chain: String
    /// 1-based position in the chain.
    public var position: Int
    public var rule: FirewallRule

    public init(table: TableID, chain: String, position: Int, rule: FirewallRule) {
        self.table = table
        self.chain = chain
        self.position = position
        self.rule = rule
    }
}

/// The conditions of a rule. A nil field does not restrict; `otherConditions` lists conditions that are
/// present but not modelled (an evaluator cannot tell whether they hold: treat the rule as "may match").
public struct RuleMatch: Codable, Sendable, Equatable {
    /// `-i` / `iifname`.
    public var inInterface: InterfaceMatch?
    /// `-o` / `oifname`.
    public var outInterface: InterfaceMatch?
    /// `-s` / `ip saddr`.
    public var source: AddressMatch?
    /// `-d` / `ip daddr`.
    public var destination: AddressMatch?
    /// `-p` / `meta l4proto` / `ip protocol`, lower case ("tcp", "udp", "icmp").
    public var protocolName: ProtocolMatch?
    /// `--sport` / `--sports` / `tcp sport`.
    public var sourcePorts: PortMatch?
    /// `--dport` / `--dports` / `tcp dport`.
    public var destinationPorts: PortMatch?
    /// `-m conntrack --ctstate` / `-m state --state` / `ct state`.
    public var connectionStates: ConnectionStateMatch?
    /// `-m addrtype --src-type` / `fib saddr type`.
    public var sourceAddressType: AddressTypeMatch?
    /// `-m addrtype --dst-type` / `fib daddr type`.
    public var destinationAddressType: AddressTypeMatch?
    /// Conditions present but not modelled, as text (`-m mark --mark 0x1`, `limit rate 10/second`).
    public var otherConditions: [String]
    /// `-m comment --comment` text (never affects matching).
    public var comment: String?

    public init(
        inInterface: InterfaceMatch? = nil, outInterface: InterfaceMatch? = nil, source: AddressMatch? = nil,
        destination: AddressMatch? = nil, protocolName: ProtocolMatch? = nil, sourcePorts: PortMatch? = nil,
        destinationPorts: PortMatch? = nil, connectionStates: ConnectionStateMatch? = nil,
        sourceAddressType: AddressTypeMatch? = nil, destinationAddressType: AddressTypeMatch? = nil,
        otherConditions: [String] = [], comment: String? = nil
    ) {
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.source = source
        self.destination = destination
        self.protocolName = protocolName
        self.sourcePorts = sourcePorts
        self.destinationPorts = destinationPorts
        self.connectionStates = connectionStates
        self.sourceAddressType = sourceAddressType
        self.destinationAddressType = destinationAddressType
        self.otherConditions = otherConditions
        self.comment = comment
    }
}

/// An interface condition: any of `names`, or none of them when negated. A name ending in `+` matches
/// every interface starting with the rest (iptables syntax; nftables' `*` is read as `+`).
public struct InterfaceMatch: Codable, Sendable, Equatable {
    public var names: [String]
    public var negated: Bool

    public init(_ names: [String], negated: Bool = false) {
        self.names = names
        self.negated = negated
    }

    public init(_ name: String, negated: Bool = false) { self.init([name], negated: negated) }

    /// Whether a packet on `interface` satisfies the condition.
    public func matches(_ interface: String) -> Bool {
        let hit = names.contains { name in
            name.hasSuffix("+") ? interface.hasPrefix(name.dropLast()) : interface == name
        }
        return hit != negated
    }
}

/// An address condition: inside any of `prefixes` ("172.17.0.0/16", a host as "/32"), or inside none
/// when negated.
public struct AddressMatch: Codable, Sendable, Equatable {
    public var prefixes: [String] {
        didSet { parsed = Self.parse(prefixes) }
    }
    public var negated: Bool
    /// `prefixes` parsed once (the forward walk asks every rule for every published port); nil when
    /// one of them is not IPv4 text.
    private var parsed: [IPv4Prefix]?

    public init(_ prefixes: [String], negated: Bool = false) {
        self.prefixes = prefixes
        self.negated = negated
        self.parsed = Self.parse(prefixes)
    }

    public init(_ prefix: String, negated: Bool = false) { self.init([prefix], negated: negated) }

    private enum CodingKeys: String, CodingKey { case prefixes, negated }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try container.decode([String].self, forKey: .prefixes), negated: try container.decode(Bool.self, forKey: .negated))
    }

    private static func parse(_ prefixes: [String]) -> [IPv4Prefix]? {
        var result: [IPv4Prefix] = []
        for text in prefixes {
            guard let prefix = IPv4Prefix(text) else { return nil }
            result.append(prefix)
        }
        return result
    }

    /// `prefixes` parsed; nil when one of them is not IPv4 text.
    public var parsedPrefixes: [IPv4Prefix]? { parsed }

    /// Whether `address` satisfies the condition; nil when a prefix is not IPv4 text.
    public func matches(_ address: IPv4Address) -> Bool? {
        guard let parsed else { return nil }
        return parsed.contains { $0.contains(address) } != negated
    }
}

/// A layer-4 protocol condition.
public struct ProtocolMatch: Codable, Sendable, Equatable {
    /// Lower case name ("tcp", "udp", "icmp") or a number as text.
    public var name: String
    public var negated: Bool

    public init(_ name: String, negated: Bool = false) {
        self.name = name
        self.negated = negated
    }
}

/// An inclusive port range; a single port has `first == last`.
public struct PortRange: Codable, Sendable, Equatable, CustomStringConvertible {
    public var first: UInt16
    public var last: UInt16

    public init(_ first: UInt16, _ last: UInt16) {
        self.first = first
        self.last = last
    }

    public init(_ port: UInt16) { self.init(port, port) }

    public func contains(_ port: UInt16) -> Bool { first <= port && port <= last }

    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }
}

/// A port condition: in any of `ranges`, or in none when negated.
public struct PortMatch: Codable, Sendable, Equatable {
    public var ranges: [PortRange]
    public var negated: Bool

    public init(_ ranges: [PortRange], negated: Bool = false) {
        self.ranges = ranges
        self.negated = negated
    }

    public func matches(_ port: UInt16) -> Bool { ranges.contains { $0.contains(port) } != negated }
}

/// A conntrack state condition, states upper case as iptables prints them ("NEW", "RELATED", "ESTABLISHED",
/// "INVALID", "UNTRACKED", "DNAT", "SNAT").
public struct ConnectionStateMatch: Codable, Sendable, Equatable {
    public var states: [String]
    public var negated: Bool

    public init(_ states: [String], negated: Bool = false) {
        self.states = states
        self.negated = negated
    }
}

/// An address type condition (`-m addrtype --dst-type LOCAL`, `fib daddr type local`), types upper case.
public struct AddressTypeMatch: Codable, Sendable, Equatable {
    public var types: [String]
    public var negated: Bool

    public init(_ types: [String], negated: Bool = false) {
        self.types = types
        self.negated = negated
    }
}

/// An address translation's new address and port (`--to-destination 172.17.0.2:80`, `dnat to 10.0.0.5`).
public struct NATAddress: Codable, Sendable, Equatable {
    /// The first (often only) address; nil when only the port changes.
    public var address: String?
    /// The last address of a range (`10.0.0.1-10.0.0.4`).
    public var lastAddress: String?
    public var ports: PortRange?

    public init(address: String?, lastAddress: String? = nil, ports: PortRange? = nil) {
        self.address = address
        self.lastAddress = lastAddress
        self.ports = ports
    }
}

/// What a matching rule does.
public enum RuleTarget: Codable, Sendable, Equatable {
    case accept
    case drop
    /// Drop with an ICMP error or TCP reset; `with` is the tool's text (`icmp-port-unreachable`, `tcp reset`).
    case reject(with: String?)
    /// Back to the calling chain (in a base chain: the policy applies).
    case `return`
    /// Into a user chain, coming back at its end.
    case jump(chain: String)
    /// Into a user chain, not coming back (`-g`, nft `goto`).
    case goto(chain: String)
    /// Destination NAT (a published port).
    case dnat(to: NATAddress)
    /// Source NAT to a fixed address.
    case snat(to: NATAddress)
    /// Source NAT to the outgoing interface's address; `ports` from `--to-ports`.
    case masquerade(ports: PortRange?)
    /// Destination NAT to the host itself.
    case redirect(ports: PortRange?)
    /// A target that does not decide the packet's fate or is not modelled (`LOG`, `MARK`, `CT`, ...), with
    /// its options as text.
    case other(name: String, options: String)

    /// DNAT, SNAT, MASQUERADE or REDIRECT.
    public var isAddressTranslation: Bool {
        switch self {
        case .dnat, .snat, .masquerade, .redirect: true
        default: false
        }
    }
}
