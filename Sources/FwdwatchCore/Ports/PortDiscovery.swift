/// Finds the ports a host publishes by following the nat table's own flow from the prerouting hook,
/// the way a new connection from outside meets it, and then asks, per candidate ingress interface,
/// which DNAT such a connection really reaches.
///
/// 1. Paths: from every nat base chain on prerouting, every jump is followed and the conditions met on
///    the way (protocol, destination port, destination address, `addrtype LOCAL` / `fib daddr type
///    local`) are carried along. A DNAT reached with a protocol and a port is a candidate. A path whose
///    destination can only be an address the host does not hold (a kube-proxy ClusterIP, a service VIP)
///    is cut at once: those are not ports published on this host, and they cost nothing per endpoint.
/// 2. Ingresses: for each candidate and each interface traffic can arrive on, a probe packet (that
///    interface, the protocol, the port, a local destination) walks the nat chains first-match, with the
///    RETURN rules, `-i`/`! -i`, `iifname !=` and address-type conditions as the kernel applies them. The
///    interface is an ingress of the port when the probe can reach its DNAT: a bridge whose traffic
///    Docker RETURNs before its DNATs is not an ingress of another network's ports.
struct PortDiscovery {
    let rules: RuleSetIndex
    /// The host's own addresses: a destination that holds none of them is not published here.
    let localAddresses: Set<UInt32>

    /// A DNAT reached from prerouting, with the conditions of its path.
    struct Candidate {
        var port: PublishedPort
        var place: RulePlace
        /// Positive destination prefixes on the path (nil: any local address).
        var listen: [IPv4Prefix]?
    }

    private struct PathConditions {
        var transport: String?
        var port: PortRange?
        var listen: [IPv4Prefix]?
        var chains: [String]
    }

    func candidates() -> [Candidate] {
        var found: [Candidate] = []
        var seen: Set<RulePlace> = []
        var visited: Set<String> = []
        for (table, chain) in rules.baseChains(.prerouting) where chain.base?.type == .nat {
            follow(
                table: table, chain: chain.name,
                conditions: PathConditions(transport: nil, port: nil, listen: nil, chains: [chain.name]),
                depth: 0, found: &found, seen: &seen, visited: &visited)
        }
        return found
    }

    private func follow(
        table: FirewallTable, chain name: String, conditions: PathConditions, depth: Int,
        found: inout [Candidate], seen: inout Set<RulePlace>, visited: inout Set<String>
    ) {
        guard depth < 64, let chain = table.chains[name] else { return }
        // A chain entered again under the same conditions has nothing new to give.
        let key = "\(table.id)\u{0}\(name)\u{0}\(conditions.transport ?? "")\u{0}\(conditions.port?.description ?? "")\u{0}\(conditions.listen?.description ?? "")"
        guard visited.insert(key).inserted else { return }
        for (position, rule) in chain.rules.enumerated() {
            guard let target = rule.target else { continue }
            switch target {
            case .dnat, .jump, .goto: break
            default: continue
            }
            guard let next = narrowed(conditions, by: rule.match) else { continue }
            switch target {
            case .dnat(let to):
                let place = RulePlace(table: table.id, chain: name, position: position)
                guard let address = to.address, IPv4Address(address) != nil,
                    to.lastAddress == nil || to.lastAddress == address,
                    let transport = next.transport, transport == "tcp" || transport == "udp",
                    let ports = next.port, seen.insert(place).inserted
                else { continue }
                let owner = StackOwner.of(table: table.id, chain: name)
                found.append(
                    Candidate(
                        port: PublishedPort(
                            transport: transport, hostPorts: ports, target: address, targetPort: to.ports.map(\.first),
                            ingress: rule.match.inInterface, rule: "\(place)", translatedPackets: rule.counters?.packets,
                            via: next.chains.joined(separator: " > "), listen: next.listen?.map(\.description),
                            owner: owner == .other ? nil : owner),
                        place: place, listen: next.listen))
            case .jump(let chain), .goto(let chain):
                var deeper = next
                deeper.chains.append(chain)
                follow(
                    table: table, chain: chain, conditions: deeper, depth: depth + 1, found: &found, seen: &seen,
                    visited: &visited)
            default:
                continue
            }
        }
    }

    /// The path's conditions with a rule's added; nil when no connection from outside to this host can
    /// meet both (another protocol, disjoint ports, or a destination the host does not hold).
    private func narrowed(_ conditions: PathConditions, by match: RuleMatch) -> PathConditions? {
        var result = conditions
        if let proto = match.protocolName, !proto.negated {
            if let known = result.transport, known != proto.name { return nil }
            result.transport = proto.name
        }
        if let ports = match.destinationPorts, !ports.negated, ports.ranges.count == 1 {
            let range = ports.ranges[0]
            if let known = result.port {
                let first = max(known.first, range.first)
                let last = min(known.last, range.last)
                guard first <= last else { return nil }
                result.port = PortRange(first, last)
            } else {
                result.port = range
            }
        }
        if let types = match.destinationAddressType, types.negated, types.types.map({ $0.uppercased() }) == ["LOCAL"] {
            return nil  // not for the host itself: forwarded or routed traffic, no published port
        }
        if let destination = match.destination, !destination.negated {
            let prefixes = destination.prefixes.compactMap { IPv4Prefix($0) }
            guard prefixes.count == destination.prefixes.count else { return result }  // not IPv4 text: keep going
            var listen = result.listen.map { known in
                prefixes.filter { prefix in known.contains { $0.overlaps(prefix) } }
            } ?? prefixes
            listen = listen.filter { holdsLocal($0) }
            guard !listen.isEmpty else { return nil }  // a ClusterIP, a VIP: not this host's address
            result.listen = listen
        }
        return result
    }

    private func holdsLocal(_ prefix: IPv4Prefix) -> Bool {
        if prefix.length == 32 { return localAddresses.contains(prefix.network.value) }
        return localAddresses.contains { prefix.contains(IPv4Address($0)) }
    }

    /// The interfaces among `interfaces` from which a new connection to `candidate` reaches its DNAT.
    /// `addresses` gives each interface's own addresses (the destination a client there would use).
    /// `probes` keeps the DNATs each probe reached, so the targets of one port (a NodePort's endpoints)
    /// share one walk per interface.
    func ingresses(
        of candidate: Candidate, among interfaces: [Link], addresses: (Link) -> [IPv4Address],
        probes: inout [String: [RulePlace]]
    ) -> [Link] {
        interfaces.filter { link in
            guard let destination = probeDestination(candidate, arrivingOn: link, addresses: addresses) else { return false }
            let key = "\(link.name) \(candidate.port.transport) \(candidate.port.hostPorts.first) \(destination.value)"
            if let reached = probes[key] { return reached.contains(candidate.place) }
            let probe = ProbePacket(
                inInterface: link.name, outInterface: nil, source: nil, destination: destination,
                destinationIsLocal: true, transport: candidate.port.transport,
                destinationPort: candidate.port.hostPorts.first)
            let reached = PacketWalk(rules: rules, packet: probe).walk(.prerouting, natOnly: true).translations
            probes[key] = reached
            return reached.contains(candidate.place)
        }
    }

    /// The address a client on `link` connects to: the interface's own, or, when the port listens on
    /// given addresses only, the first of those (any local address is reachable through any interface).
    private func probeDestination(
        _ candidate: Candidate, arrivingOn link: Link, addresses: (Link) -> [IPv4Address]
    ) -> IPv4Address? {
        let own = addresses(link)
        guard let listen = candidate.listen else { return own.first }
        if let mine = own.first(where: { address in listen.contains { $0.contains(address) } }) { return mine }
        for prefix in listen {
            if prefix.length == 32 { return prefix.network }
            if let any = localAddresses.first(where: { prefix.contains(IPv4Address($0)) }) { return IPv4Address(any) }
        }
        return nil
    }
}
