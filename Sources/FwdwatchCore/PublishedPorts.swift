/// A port published through DNAT (Docker's `-p 10001:80`): what a client connects to and where the
/// host sends it.
public struct PublishedPort: Sendable, Equatable, Codable {
    /// "tcp" or "udp".
    public var transport: String
    public var hostPorts: PortRange
    /// The DNAT target: the container's (or VM's) address.
    public var target: String
    /// The target port; nil when the DNAT keeps the port.
    public var targetPort: UInt16?
    /// The interfaces the DNAT applies to (`! -i docker0`); nil = every interface.
    public var ingress: InterfaceMatch?
    /// Where the DNAT rule is: "iptables-nft ip nat DOCKER #2".
    public var rule: String
    /// Packets the DNAT rule translated, when counters were read.
    public var translatedPackets: UInt64?

    /// "10001/tcp", as operators write it.
    public var subject: String { "\(hostPorts)/\(transport)" }

    /// "172.17.0.2:80".
    public var destination: String { "\(target):\(targetPort ?? hostPorts.first)" }
}

/// One step of a published port's path, the way the incident's admin walked it by hand.
public struct PathHop: Sendable, Equatable, Codable {
    public enum Name: String, Sendable, Codable, CaseIterable {
        case ipForwarding = "ip-forwarding"
        case ingressForwarding = "ingress-forwarding"
        case route
        case egressLink = "egress-link"
        case egressForwarding = "egress-forwarding"
        case bridgePorts = "bridge-ports"
        case forwardChain = "forward-chain"
        /// A full conntrack table drops every new connection, forwarded ones included.
        case conntrack
        case reversePathFilter = "rp-filter"
        /// Whether the target answers ARP on the egress: the container's part, not the host's.
        case targetNeighbour = "target-neighbour"
    }

    public var name: Name
    /// True when the hop passes, false when it breaks the path, nil when it could not be decided.
    public var passes: Bool?
    /// What was read, in a phrase: "net.ipv4.conf.eth0.forwarding=0".
    public var detail: String
    /// The command that repairs a broken hop.
    public var fix: String?
}

/// The path of one published port from one ingress interface.
public struct PortPath: Sendable, Equatable, Codable {
    public var port: PublishedPort
    public var ingress: String
    /// The interface the target is routed out of, when there is a route.
    public var egress: String?
    /// Every hop up to and including the first broken one.
    public var hops: [PathHop]

    public var firstBroken: PathHop? { hops.first { $0.passes == false } }
    public var isBroken: Bool { firstBroken != nil }
    /// Broken at a hop of the host's own forwarding path. A target that does not answer ARP (the last
    /// hop, target-neighbour) breaks the path too, but that is the container's fault:
    /// dnat-target-not-answering reports it, not published-port-unreachable.
    public var isBrokenOnHost: Bool { firstBroken.map { $0.name != .targetNeighbour } ?? false }
}

extension HostView {
    /// Every DNAT rule that publishes a TCP or UDP port to one IPv4 address, once each (read once per
    /// view into `HostView.publishedPorts`).
    static func publishedPorts(in firewall: FirewallState?) -> [PublishedPort] {
        guard let firewall else { return [] }
        var found: [PublishedPort] = []
        for located in firewall.natRules {
            guard case .dnat(let to)? = located.rule.target, let address = to.address, IPv4Address(address) != nil,
                to.lastAddress == nil || to.lastAddress == address
            else { continue }
            let match = located.rule.match
            guard let transport = match.protocolName, !transport.negated, ["tcp", "udp"].contains(transport.name),
                let destinationPorts = match.destinationPorts, !destinationPorts.negated,
                destinationPorts.ranges.count == 1
            else { continue }
            let port = PublishedPort(
                transport: transport.name, hostPorts: destinationPorts.ranges[0], target: address,
                targetPort: to.ports.map(\.first), ingress: match.inInterface,
                rule: "\(located.table) \(located.chain) #\(located.position)",
                translatedPackets: located.rule.counters?.packets)
            // Docker writes the same DNAT for PREROUTING and OUTPUT through one chain; list it once.
            guard !found.contains(where: { $0.subject == port.subject && $0.destination == port.destination }) else {
                continue
            }
            found.append(port)
        }
        return found.sorted { ($0.hostPorts.first, $0.transport) < ($1.hostPorts.first, $1.transport) }
    }

    /// The interfaces a published port can be reached from: the ingress interfaces its DNAT applies to,
    /// less the one whose own subnet holds the target (from there it is hairpin traffic, not forwarded).
    /// The subnet is taken from the addresses, not the routes, so a broken route cannot hide an ingress.
    public func ingressInterfaces(for port: PublishedPort) -> [Link] {
        let home = IPv4Address(port.target).flatMap { target in
            snapshot.links.first { link in ipv4(of: link).contains { $0.prefix.contains(target) } }?.index
        }
        return ingressInterfaces.filter { link in
            link.index != home && (port.ingress?.matches(link.name) ?? true)
        }
    }

    /// Walks the path of `port` from `ingress` hop by hop and stops at the first broken hop.
    public func path(of port: PublishedPort, from ingress: Link) -> PortPath {
        var path = PortPath(port: port, ingress: ingress.name, egress: nil, hops: [])
        func add(_ name: PathHop.Name, _ passes: Bool?, _ detail: String, fix: String? = nil) -> Bool {
            path.hops.append(PathHop(name: name, passes: passes, detail: detail, fix: passes == false ? fix : nil))
            return passes != false
        }

        let all = allConf?.forwarding
        guard
            add(
                .ipForwarding, all.map { $0 == 1 }, "net.ipv4.conf.all.forwarding=\(all.map(String.init) ?? "unknown")",
                fix: "sysctl -w net.ipv4.ip_forward=1")
        else { return path }
        let ingressKey = HostView.sysctlKey(ingress.name, "forwarding")
        let ingressValue = conf(ingress)?.forwarding
        guard
            add(
                .ingressForwarding, ingressValue.map { $0 == 1 },
                "\(ingressKey)=\(ingressValue.map(String.init) ?? "unknown")", fix: "sysctl -w \(ingressKey)=1")
        else { return path }

        let target = IPv4Address(port.target)
        // The interface whose own subnet holds the target (docker0 for 172.17.0.2), by address.
        let home = target.flatMap { homeInterface(of: $0) }
        if let home, !home.link.adminUp {
            _ = add(
                .egressLink, false, "\(home.link.name), which holds \(home.entry.prefix), is down",
                fix: "ip link set dev \(home.link.name) up")
            return path
        }
        let fixRoute =
            home.map {
                "ip route add \($0.entry.prefix) dev \($0.link.name) proto kernel scope link src \($0.entry.address)"
            } ?? "ip route add <container subnet> dev <bridge>  # the route the container's network needs"
        guard let target, let route = route(to: target), route.type == "unicast",
            let egressIndex = route.outputInterface, let egress = linksByIndex[egressIndex]
        else {
            _ = add(.route, false, "no route to \(port.target) in the main table", fix: fixRoute)
            return path
        }
        path.egress = egress.name
        guard
            add(
                .route, egress.index != ingress.index,
                egress.index != ingress.index
                    ? "\(port.target) is routed via \(egress.name) (\(route.destination))"
                    : "\(port.target) is routed back out of \(egress.name) (\(route.destination)): the route to its network is gone or shadowed",
                fix: fixRoute)
        else { return path }
        // A bridge's carrier follows its ports: a bridge that is up but has lost its carrier is left to
        // the bridge-ports hop, which says why (no port attached, none up, none forwarding).
        guard
            add(
                .egressLink, egress.isBridge ? egress.adminUp : isUp(egress),
                "\(egress.name) is \(egress.adminUp ? "up" : "down")\(egress.carrier ? "" : ", no carrier")",
                fix: egress.adminUp ? "bridge link show master \(egress.name)" : "ip link set dev \(egress.name) up")
        else { return path }
        let egressKey = HostView.sysctlKey(egress.name, "forwarding")
        let egressValue = conf(egress)?.forwarding
        guard
            add(
                .egressForwarding, egressValue.map { $0 == 1 },
                "\(egressKey)=\(egressValue.map(String.init) ?? "unknown") (the replies are forwarded from here)",
                fix: "sysctl -w \(egressKey)=1")
        else { return path }
        if egress.isBridge {
            let forwarding = ports(of: egress).filter { isUp($0) && ($0.bridgePortState ?? .forwarding) == .forwarding }
            guard
                add(
                    .bridgePorts, !forwarding.isEmpty,
                    ports(of: egress).isEmpty
                        ? "\(egress.name) has no ports: no container's veth is attached to it"
                        : "\(forwarding.count) of \(ports(of: egress).count) ports of \(egress.name) forwarding",
                    fix: "bridge link show master \(egress.name)  # attach the container's veth, bring it up")
            else { return path }
        }
        if let hop = forwardChainHop(port, from: ingress, to: egress) {
            guard add(hop.name, hop.passes, hop.detail, fix: hop.fix) else { return path }
        }
        if let table = snapshot.conntrack, table.max > 0 {
            let full = table.count >= table.max
            guard
                add(
                    .conntrack, !full,
                    "nf_conntrack \(table.count) of \(table.max)\(full ? ": full, new connections are dropped" : "")",
                    fix: "sysctl -w net.netfilter.nf_conntrack_max=\(table.max * 2)  # and find what fills it: conntrack -S")
            else { return path }
        }
        // Strict reverse-path filtering drops clients beyond the ingress subnet when replies would
        // leave by another interface.
        if effectiveRPFilter(ingress) == 1, let best = defaultRoutes.first(where: { $0.type == "unicast" }),
            best.outputInterface != ingress.index
        {
            _ = add(
                .reversePathFilter, false,
                "rp_filter=1 on \(ingress.name) while the default route leaves by \(name(of: best.outputInterface) ?? "another interface") (clients beyond \(ingress.name)'s own subnet)",
                fix: "sysctl -w \(HostView.sysctlKey(ingress.name, "rp_filter"))=2")
        }
        // Last, the target itself: does it answer ARP on the egress (DnatTargetNotAnswering.swift)?
        if !path.isBroken, let hop = targetNeighbourHop(port, on: egress) {
            _ = add(hop.name, hop.passes, hop.detail, fix: hop.fix)
        }
        return path
    }

    /// What the forward hook does with a new connection to `port` arriving on `ingress` and leaving by
    /// `egress`, as a hop (its fix set whatever the verdict); nil when the rules were not read.
    func forwardChainHop(_ port: PublishedPort, from ingress: Link, to egress: Link) -> PathHop? {
        guard let firewall = snapshot.firewall, let target = IPv4Address(port.target) else { return nil }
        let packet = ForwardedPacket(
            inInterface: ingress.name, outInterface: egress.name, destination: target,
            transport: port.transport, destinationPort: port.targetPort ?? port.hostPorts.first)
        let verdict = ForwardChainWalk(firewall: firewall).verdict(for: packet)
        let passes: Bool? =
            switch verdict.outcome {
            case .accepted: true
            case .dropped: false
            case .undecided: nil
            }
        return PathHop(
            name: .forwardChain, passes: passes, detail: verdict.detail,
            fix: "iptables -I DOCKER-USER -i \(ingress.name) -o \(egress.name) -d \(port.target) -p \(port.transport) --dport \(packet.destinationPort) -j ACCEPT  # or remove the rule that drops it")
    }

    /// The interface a published port's packets leave by towards the target: the route's, or when
    /// there is no usable route, the interface whose own subnet holds the target. Nil when neither.
    public func egressInterface(for port: PublishedPort, from ingress: Link) -> Link? {
        guard let target = IPv4Address(port.target) else { return nil }
        if let route = route(to: target), route.type == "unicast", let index = route.outputInterface,
            index != ingress.index, let link = linksByIndex[index]
        {
            return link
        }
        return homeInterface(of: target)?.link
    }

    /// The interface whose own subnet holds `address` (docker0 for 172.17.0.2), with that address entry.
    func homeInterface(of address: IPv4Address) -> (link: Link, entry: (address: IPv4Address, prefix: IPv4Prefix))? {
        snapshot.links.lazy.compactMap { link in
            self.ipv4(of: link).first { $0.prefix.contains(address) }.map { (link: link, entry: $0) }
        }.first
    }

    /// The published ports a broken setting on `ingress` (every ingress when nil) cuts off, as
    /// evidence (`FWDWATCH_PORTS=10001/tcp,8080/tcp`); empty when there are none.
    public func portsEvidence(from ingress: Link?) -> [Evidence] {
        let ports = publishedPorts.filter { port in
            guard let ingress else { return true }
            return ingressInterfaces(for: port).contains { $0.index == ingress.index }
        }
        guard !ports.isEmpty else { return [] }
        return [Evidence("ports", ports.map(\.subject).joined(separator: ","))]
    }

    /// The path of `port` from each interface it can be reached from (walked once per view for the
    /// ports in `publishedPorts`).
    public func paths(of port: PublishedPort) -> [PortPath] {
        if let index = publishedPorts.firstIndex(of: port), index < portPaths.count { return portPaths[index] }
        return walkPaths(of: port)
    }

    func walkPaths(of port: PublishedPort) -> [PortPath] {
        ingressInterfaces(for: port).map { path(of: port, from: $0) }
    }
}

/// A new connection's first packet on its way through the forward hook, as far as fwdwatch knows it
/// (the client's address and source port are unknown).
struct ForwardedPacket {
    var inInterface: String
    var outInterface: String
    var destination: IPv4Address
    var transport: String
    var destinationPort: UInt16
}

/// Decides what the forward hook does with a `ForwardedPacket`: walks every base chain on the hook in
/// priority order, following jumps. A rule whose conditions cannot be decided (the client's address,
/// marks, rate limits) is passed over; if one such rule could have accepted the packet before it was
/// dropped, the verdict is undecided rather than a false alarm.
struct ForwardChainWalk {
    let firewall: FirewallState

    enum Outcome { case accepted, dropped, undecided }

    struct Verdict {
        var outcome: Outcome
        var detail: String
    }

    private enum ChainResult {
        case accept
        case drop(String)
        case fellThrough
    }

    func verdict(for packet: ForwardedPacket) -> Verdict {
        let chains = firewall.baseChains(hook: .forward)
        guard !chains.isEmpty else { return Verdict(outcome: .accepted, detail: "no forward filter") }
        var uncertainAccept: String?
        for (table, chain) in chains {
            switch walk(table: table, chain: chain, packet: packet, depth: 0, uncertainAccept: &uncertainAccept) {
            case .accept:
                continue
            case .drop(let by):
                guard let uncertainAccept else {
                    return Verdict(outcome: .dropped, detail: "dropped by \(by)")
                }
                return Verdict(outcome: .undecided, detail: "dropped by \(by) unless \(uncertainAccept) accepts it")
            case .fellThrough:
                guard chain.base?.policy == .drop else { continue }
                let by = "the \(table.id) \(chain.name) policy DROP (no rule accepts it)"
                guard let uncertainAccept else { return Verdict(outcome: .dropped, detail: "dropped by \(by)") }
                return Verdict(outcome: .undecided, detail: "dropped by \(by) unless \(uncertainAccept) accepts it")
            }
        }
        return Verdict(outcome: .accepted, detail: "accepted by the forward chains")
    }

    private func walk(
        table: FirewallTable, chain: FirewallChain, packet: ForwardedPacket, depth: Int, uncertainAccept: inout String?
    ) -> ChainResult {
        guard depth < 32 else { return .fellThrough }  // a jump loop the kernel would refuse
        for (index, rule) in chain.rules.enumerated() {
            let place = "\(table.id) \(chain.name) #\(index + 1)"
            switch matches(rule.match, packet) {
            case false?:
                continue
            case nil:
                if rule.target == .accept, uncertainAccept == nil { uncertainAccept = place }
                continue
            case true?:
                break
            }
            switch rule.target {
            case .accept?:
                return .accept
            case .drop?, .reject?:
                return .drop("\(place)" + (rule.origin.text.map { " (\($0))" } ?? ""))
            case .return?:
                return .fellThrough
            case .jump(let name)?, .goto(let name)?:
                guard let next = table.chains[name] else { continue }
                let result = walk(table: table, chain: next, packet: packet, depth: depth + 1, uncertainAccept: &uncertainAccept)
                if case .fellThrough = result, case .jump? = rule.target { continue }
                return result
            default:
                continue  // LOG, counters, marks: the packet goes on
            }
        }
        return .fellThrough
    }

    /// true / false when decided; nil when it depends on what fwdwatch cannot know.
    private func matches(_ match: RuleMatch, _ packet: ForwardedPacket) -> Bool? {
        if let interface = match.inInterface, !interface.matches(packet.inInterface) { return false }
        if let interface = match.outInterface, !interface.matches(packet.outInterface) { return false }
        if let proto = match.protocolName, (proto.name == packet.transport) == proto.negated { return false }
        if let ports = match.destinationPorts, !ports.matches(packet.destinationPort) { return false }
        if let destination = match.destination {
            guard let hit = destination.matches(packet.destination) else { return nil }
            if !hit { return false }
        }
        if let states = match.connectionStates {
            let new = states.states.contains { $0.uppercased() == "NEW" }
            if new == states.negated { return false }
        }
        if match.source != nil || match.sourcePorts != nil || match.sourceAddressType != nil
            || match.destinationAddressType != nil || !match.otherConditions.isEmpty
        {
            return nil
        }
        return true
    }
}
