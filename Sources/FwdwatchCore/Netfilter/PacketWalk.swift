/// The first packet of a new connection as far as fwdwatch knows it: what a walk through the rules
/// decides on. Unknown fields (the client's address and source port, marks) make the rules that test
/// them undecidable: the walk then follows both outcomes.
struct ProbePacket: Sendable {
    var inInterface: String?
    var outInterface: String?
    /// The client's address, when the walk is asked for one client.
    var source: IPv4Address?
    var destination: IPv4Address
    /// Whether `destination` is one of the host's own addresses (`addrtype --dst-type LOCAL`,
    /// `fib daddr type local`).
    var destinationIsLocal: Bool
    var transport: String
    var destinationPort: UInt16
    /// The packet mark, when known (a container's own outbound packet carries 0); nil: unknown (a
    /// published port's packet may have been marked on its way in, as kube-proxy does).
    var mark: UInt32? = nil
    /// Whether conntrack has DNATed the connection (a published port's packet in the forward hook: true;
    /// a container's own outbound packet: false); nil: unknown.
    var translated: Bool? = nil
}

/// Where a rule is: "iptables-nft ip nat DOCKER #2".
struct RulePlace: Hashable, Sendable, CustomStringConvertible {
    var table: TableID
    var chain: String
    /// 0-based.
    var position: Int

    var description: String { "\(table) \(chain) #\(position + 1)" }
}

/// Walks a packet through every base chain of one hook in priority order, following jumps, gotos and
/// returns the way the kernel does. A rule whose conditions cannot be decided forks the walk: both the
/// "matches" and the "does not match" continuations are followed, so the result lists every outcome
/// the packet may meet. The continuation after each rule is computed once per walk (memoised on chain
/// and position), so the cost is linear in the rules the packet can reach, and with `ChainIndex` only
/// the rules naming its destination, its port or neither are looked at.
struct PacketWalk {
    let rules: RuleSetIndex
    let packet: ProbePacket

    /// Where a packet may be dropped.
    struct Drop: Sendable {
        /// "iptables-nft ip filter DOCKER-USER #1", or the policy drop in words.
        var place: String
        /// The rule as the tool printed it.
        var text: String?
        /// The dropping rule; nil for a chain policy.
        var rule: RulePlace?
    }

    /// What a walk through one hook may end in.
    struct Outcomes {
        /// DNAT rules the packet may be translated by (nat chains), first one on each path.
        var translations: [RulePlace] = []
        /// REDIRECTs it may meet (the host itself answers).
        var redirects: [RulePlace] = []
        /// MASQUERADE or SNAT rules it may meet (postrouting).
        var sourceTranslations: [RulePlace] = []
        /// Where it may be dropped or rejected, with the rule text; a policy drop names the chain.
        var drops: [Drop] = []
        /// Whether it may pass the hook untouched (every base chain accepted or fell through to an accept policy).
        var passes = false
        /// The first undecidable rule that made a difference, for the explanation.
        var undecidedAt: String?
    }

    /// One chain's exits from a given position.
    private struct Exits {
        var translations: [RulePlace] = []
        var redirects: [RulePlace] = []
        var sourceTranslations: [RulePlace] = []
        var drops: [Drop] = []
        /// ACCEPT: the base chain is done with the packet.
        var accepts = false
        /// The end of the chain or RETURN: back to the caller (or the policy, in a base chain).
        var continues = false
        var undecidedAt: String?

        mutating func merge(_ other: Exits) {
            translations.append(contentsOf: other.translations.filter { !translations.contains($0) })
            redirects.append(contentsOf: other.redirects.filter { !redirects.contains($0) })
            sourceTranslations.append(contentsOf: other.sourceTranslations.filter { !sourceTranslations.contains($0) })
            for drop in other.drops where !drops.contains(where: { $0.place == drop.place }) { drops.append(drop) }
            accepts = accepts || other.accepts
            continues = continues || other.continues
            if undecidedAt == nil { undecidedAt = other.undecidedAt }
        }
    }

    private final class Memo {
        var exits: [String: Exits] = [:]
        var active: Set<String> = []
    }

    /// Walks the base chains on `hook`: every one, the nat ones only (`natOnly`), or all but the nat ones
    /// (`skippingNat`: the filter, raw and mangle chains a packet meets before the routing decision).
    func walk(_ hook: NetfilterHook, natOnly: Bool = false, skippingNat: Bool = false) -> Outcomes {
        var outcomes = Outcomes()
        let memo = Memo()
        var reaches = true
        for (table, chain) in rules.baseChains(hook) {
            guard reaches else { break }
            if natOnly, chain.base?.type != .nat { continue }
            if skippingNat, chain.base?.type == .nat { continue }
            let exits = walk(table: table, chain: chain.name, depth: 0, memo: memo)
            outcomes.translations.append(contentsOf: exits.translations.filter { !outcomes.translations.contains($0) })
            outcomes.redirects.append(contentsOf: exits.redirects)
            outcomes.sourceTranslations.append(contentsOf: exits.sourceTranslations)
            outcomes.drops.append(contentsOf: exits.drops)
            if outcomes.undecidedAt == nil { outcomes.undecidedAt = exits.undecidedAt }
            var next = exits.accepts
            if exits.continues {
                if chain.base?.policy == .drop {
                    outcomes.drops.append(Drop(place: "the \(table.id) \(chain.name) policy DROP (no rule accepts it)", text: nil, rule: nil))
                } else {
                    next = true
                }
            }
            reaches = next
        }
        outcomes.passes = reaches
        return outcomes
    }

    /// The exits of a chain entered at its first rule (memoised per walk: kube-proxy's KUBE-MARK-MASQ
    /// is entered from thousands of places). Iterative along the chain: an undecidable rule merges its
    /// "matches" outcome and the scan goes on as its "does not match" outcome.
    private func walk(table: FirewallTable, chain name: String, depth: Int, memo: Memo) -> Exits {
        let key = "\(table.id)\u{0}\(name)"
        if let known = memo.exits[key] { return known }
        guard depth < 64, !memo.active.contains(key), let chain = table.chains[name],
            let index = rules.index(table.id, name)
        else {
            return Exits(continues: true)  // a missing chain, or a loop the kernel would refuse
        }
        memo.active.insert(key)
        defer { memo.active.remove(key) }

        var result = Exits()
        for position in index.candidates(destination: packet.destination, port: packet.destinationPort) {
            let rule = chain.rules[position]
            let matched = PacketMatcher.matches(rule.match, packet)
            if matched == false { continue }
            guard let target = rule.target, target.decides else { continue }  // LOG, MARK, counters
            let place = RulePlace(table: table.id, chain: name, position: position)
            if matched == nil, result.undecidedAt == nil {
                result.undecidedAt = "\(place)" + (rule.origin.text.map { " (\($0))" } ?? "")
            }
            var taken = Exits()
            var goesOn = false  // whether the "matches" side continues with the next rule
            switch target {
            case .accept:
                taken.accepts = true
            case .drop, .reject:
                taken.drops = [Drop(place: "\(place)", text: rule.origin.text, rule: place)]
            case .return:
                taken.continues = true
            case .dnat:
                taken.translations = [place]
            case .redirect:
                taken.redirects = [place]
            case .snat, .masquerade:
                taken.sourceTranslations = [place]
            case .jump(let next):
                taken = walk(table: table, chain: next, depth: depth + 1, memo: memo)
                goesOn = taken.continues
                taken.continues = false
            case .goto(let next):
                taken = walk(table: table, chain: next, depth: depth + 1, memo: memo)
            case .other:
                goesOn = true
            }
            result.merge(taken)
            if matched == true, !goesOn {
                memo.exits[key] = result
                return result
            }
        }
        result.continues = true
        memo.exits[key] = result
        return result
    }
}

extension RuleTarget {
    /// Whether meeting this target changes where the packet goes (LOG, MARK, counters do not).
    var decides: Bool {
        switch self {
        case .other: false
        default: true
        }
    }
}

/// Whether a rule's conditions hold for a probe packet: true, false, or nil when they depend on what
/// the probe does not carry.
enum PacketMatcher {
    static func matches(_ match: RuleMatch, _ packet: ProbePacket) -> Bool? {
        var unknown = false
        if let interface = match.inInterface {
            if let name = packet.inInterface {
                if !interface.matches(name) { return false }
            } else {
                unknown = true
            }
        }
        if let interface = match.outInterface {
            if let name = packet.outInterface {
                if !interface.matches(name) { return false }
            } else {
                unknown = true
            }
        }
        if let proto = match.protocolName, (proto.name == packet.transport) == proto.negated { return false }
        if let ports = match.destinationPorts, !ports.matches(packet.destinationPort) { return false }
        if let destination = match.destination {
            guard let hit = destination.matches(packet.destination) else { return nil }
            if !hit { return false }
        }
        if let states = match.connectionStates {
            // The probe is a connection's first packet: NEW; DNAT when the walk knows it was translated.
            var any: Bool? = false
            for state in states.states.map({ $0.uppercased() }) {
                let applies: Bool? =
                    switch state {
                    case "NEW": true
                    case "DNAT": packet.translated
                    case "SNAT": nil
                    default: false  // ESTABLISHED, RELATED, INVALID, UNTRACKED: not a first packet
                    }
                if any == true || applies == true {
                    any = true
                } else if any == nil || applies == nil {
                    any = nil
                }
            }
            guard let hit = any else { return nil }
            if hit == states.negated { return false }
        }
        if let types = match.destinationAddressType {
            let upper = types.types.map { $0.uppercased() }
            if upper == ["LOCAL"] {
                if packet.destinationIsLocal == types.negated { return false }
            } else if !packet.destinationIsLocal, upper.allSatisfy({ ["LOCAL", "BROADCAST", "MULTICAST", "ANYCAST"].contains($0) }) {
                // A forwarded unicast packet is none of these.
                if !types.negated { return false }
            } else {
                unknown = true
            }
        }
        if let source = match.source {
            if let address = packet.source {
                guard let hit = source.matches(address) else { return nil }
                if !hit { return false }
            } else {
                unknown = true
            }
        }
        if match.sourcePorts != nil || match.sourceAddressType != nil { unknown = true }
        for condition in match.otherConditions {
            if let test = MarkCondition(condition) {
                guard let mark = packet.mark else {
                    unknown = true
                    continue
                }
                if !test.matches(mark) { return false }
            } else if condition == "meta nfproto ipv6" {
                return false  // an IPv6-only rule in an inet table: never an IPv4 probe
            } else if condition == "meta nfproto != ipv6" {
                continue
            } else if condition.hasPrefix("ct status ") {
                let negated = condition.hasPrefix("ct status != ")
                let statuses = condition.dropFirst(negated ? 13 : 10).split(separator: ",")
                guard statuses == ["dnat"], let translated = packet.translated else {
                    unknown = true
                    continue
                }
                if translated == negated { return false }
            } else {
                unknown = true
            }
        }
        return unknown ? nil : true
    }
}

/// An iptables mark condition as the parser keeps it: `-m mark --mark 0x2000/0x2000`,
/// `-m mark ! --mark 0x4000/0x4000` (value, optional mask).
struct MarkCondition {
    var value: UInt32
    var mask: UInt32
    var negated: Bool

    init?(_ text: String) {
        let tokens = text.split(separator: " ")
        guard tokens.count >= 4, tokens[0] == "-m", tokens[1] == "mark", let at = tokens.firstIndex(of: "--mark"),
            at + 1 < tokens.count, tokens.count == at + 2
        else { return nil }
        negated = tokens[at - 1] == "!"
        guard at == (negated ? 3 : 2) else { return nil }
        let parts = tokens[at + 1].split(separator: "/")
        guard parts.count == 1 || parts.count == 2, let value = Self.number(parts[0]) else { return nil }
        self.value = value
        if parts.count == 2 {
            guard let mask = Self.number(parts[1]) else { return nil }
            self.mask = mask
        } else {
            self.mask = .max
        }
    }

    func matches(_ mark: UInt32) -> Bool { ((mark & mask) == value) != negated }

    static func number(_ text: Substring) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
    }
}
