extension HostView {
    /// Finds the published ports and their ingress interfaces (see `PortDiscovery`); run once per view.
    mutating func discoverPorts() {
        guard let ruleIndex else { return }
        let discovery = PortDiscovery(rules: ruleIndex, localAddresses: localAddresses)
        let candidates = discovery.candidates()
        let interfaces = ingressInterfaces
        var found: [(port: PublishedPort, ingresses: [Link])] = []
        var seen: Set<String> = []
        var probes: [String: [RulePlace]] = [:]
        for candidate in candidates {
            // The same DNAT reached twice (Docker's PREROUTING and a second path) is one port.
            let key = "\(candidate.port.subject) \(candidate.port.destination) \(candidate.port.listen ?? [])"
            guard seen.insert(key).inserted else { continue }
            let home = candidate.port.targetAddress.flatMap { homeInterface(of: $0)?.link.index }
            let ingresses = discovery.ingresses(
                of: candidate, among: interfaces.filter { $0.index != home },
                addresses: { link in self.ipv4(of: link).map(\.address) }, probes: &probes)
            found.append((candidate.port, ingresses))
        }
        found.sort {
            ($0.port.hostPorts.first, $0.port.transport, $0.port.target) < ($1.port.hostPorts.first, $1.port.transport, $1.port.target)
        }
        publishedPorts = found.map(\.port)
        portIngresses = found.map(\.ingresses)
        indexPorts()
    }

    /// The lookups by target and subject over `publishedPorts`.
    mutating func indexPorts() {
        var byTarget: [String: [Int]] = [:]
        for (position, port) in publishedPorts.enumerated() { byTarget[port.target, default: []].append(position) }
        portsByTarget = byTarget
        var counts: [String: Int] = [:]
        for port in publishedPorts { counts[port.subject, default: 0] += 1 }
        subjectCounts = counts
    }

    /// A finding's subject for `port`: "10001/tcp", or "30080/tcp 10.244.1.5:80" when the port is
    /// balanced over several targets (a NodePort with two endpoints) and one of them is meant.
    public func subject(of port: PublishedPort) -> String {
        guard let first = subjectCounts[port.subject], first > 1 else { return port.subject }
        return "\(port.subject) \(port.destination)"
    }

    /// The published ports whose DNAT sends clients to `target`.
    func publishedPorts(to target: String) -> [PublishedPort] {
        (portsByTarget[target] ?? []).map { publishedPorts[$0] }
    }

    /// "10001/tcp,10002/tcp": the ports published to `target`.
    func ports(to target: String) -> String {
        var subjects: [String] = []
        for port in publishedPorts(to: target) where !subjects.contains(port.subject) { subjects.append(port.subject) }
        return subjects.joined(separator: ",")
    }

    /// The path of `port` from each interface it can be reached from.
    public func paths(of port: PublishedPort) -> [PortPath] {
        if let index = publishedPorts.firstIndex(of: port), index < portPaths.count { return portPaths[index] }
        return []
    }

    /// The published ports a broken setting on `ingress` (every ingress when nil) cuts off, as
    /// evidence (`FWDWATCH_PORTS=10001/tcp,8080/tcp`); empty when there are none.
    public func portsEvidence(from ingress: Link?) -> [Evidence] {
        var subjects: [String] = []
        var seen: Set<String> = []
        for (port, ingresses) in zip(publishedPorts, portIngresses) {
            guard ingress == nil || ingresses.contains(where: { $0.index == ingress!.index }) else { continue }
            if seen.insert(port.subject).inserted { subjects.append(port.subject) }
        }
        guard !subjects.isEmpty else { return [] }
        return [Evidence("ports", subjects.joined(separator: ","))]
    }

    // MARK: The walk

    /// Walks the path of `port` from `ingress` hop by hop and stops at the first broken hop. Where the
    /// kernel was asked (`Snapshot.routeDecisions`), its answer decides the routing hops; a hop where
    /// the hand model and the kernel disagree is said so in `disagreements`.
    func path(of port: PublishedPort, from ingress: Link, disagreements: inout [String]) -> PortPath {
        // Forwarding off on the ingress (or everywhere), and the kernel agrees for every question from it:
        // the path is the ingress's own forwarding hops, shared by every port that comes in there (on an
        // uplink with 10,000 ports, a flip costs one walk, not 10,000).
        if let early = forwardingHopsByIngress[ingress.index], early.broken,
            routeAnswers.isEmpty || kernelRefusesForwarding.contains(ingress.name),
            preroutingHop(port, from: ingress) == nil
        {
            return PortPath(port: port, ingress: ingress.name, egress: nil, hops: early.hops)
        }
        var path = PortPath(port: port, ingress: ingress.name, egress: nil, hops: [])
        let target = port.targetAddress
        let kernel = target.flatMap { kernelVerdict(port: port, target: $0, ingress: ingress) }

        /// Adds a hop; a routing hop the model breaks but the kernel passes is passed, and noted.
        func add(_ name: PathHop.Name, _ passes: Bool?, _ detail: String, fix: String? = nil, routing: Bool = false) -> Bool {
            if routing, passes == false, let kernel, kernel.failure == nil, kernel.asked > 0 {
                disagreements.append(
                    "\(port.subject) from \(ingress.name): the model says \(name.rawValue) breaks (\(detail)), the kernel's route lookup forwards it (\(kernel.example))")
                path.hops.append(PathHop(name: name, passes: true, detail: "\(detail); the kernel's route lookup forwards it all the same"))
                return true
            }
            path.hops.append(PathHop(name: name, passes: passes, detail: detail, fix: passes == false ? fix : nil))
            return passes != false
        }

        if let hop = preroutingHop(port, from: ingress) {
            guard add(hop.name, hop.passes, hop.detail, fix: hop.fix) else { return path }
        }
        // net.ipv4.conf.all.forwarding, then the ingress's own (the hops every path from it starts with).
        for hop in (forwardingHopsByIngress[ingress.index] ?? ingressForwardingHops(of: ingress)).hops {
            guard add(hop.name, hop.passes, hop.detail, fix: hop.fix, routing: true) else { return path }
        }
        /// The `forwarding` sysctl of `link` as hop `name` (the egress's, for the replies).
        func forwarding(on link: Link, as name: PathHop.Name, _ note: String = "") -> Bool {
            let hop = forwardingHop(on: link, as: name, note: note)
            return add(hop.name, hop.passes, hop.detail, fix: hop.fix, routing: true)
        }

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
        // The egress: the kernel's own forwarding decision where it was asked, else the model's route.
        var egress: Link?
        var routeDetail = ""
        var routeUsed = ""
        if let out = kernel?.egress, let link = linksByName[out] {
            egress = link
            routeDetail = "\(port.target) is routed via \(out) (the kernel: \(kernel!.example))"
        } else if let target, let route = route(to: target), route.type == "unicast",
            let index = route.outputInterface, let link = linksByIndex[index]
        {
            egress = link
            routeUsed = " (\(route.destination))"
            routeDetail = "\(port.target) is routed via \(link.name) (\(route.destination))"
        }
        guard let egress else {
            _ = add(.route, false, "no route to \(port.target) in the main table", fix: fixRoute, routing: kernel?.egress == nil)
            return path
        }
        path.egress = egress.name
        // Out of the interface it came in on: the container network's route is gone or shadowed when the
        // target's own subnet is elsewhere or only the default route leads back. A specific route through
        // the ingress (a pod on another node behind the uplink) is a real path.
        let specific = target.flatMap { routeEntry(to: $0) }.map { $0.prefix.length > 0 } ?? false
        let routedBack = egress.index == ingress.index && (home.map { $0.link.index != egress.index } ?? !specific)
        guard
            add(
                .route, !routedBack,
                !routedBack
                    ? routeDetail
                    : "\(port.target) is routed back out of \(egress.name)\(routeUsed): the route to its network is gone or shadowed",
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
        guard forwarding(on: egress, as: .egressForwarding, " (the replies are forwarded from here)") else { return path }
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
        // Strict reverse-path filtering drops a client whose replies would leave by another interface.
        if effectiveRPFilter(ingress) == 1 {
            let asymmetric = clients(of: ingress).filter { client in
                route(to: client.address)?.outputInterface != ingress.index
            }
            if let first = asymmetric.first {
                let fix = "sysctl -w \(HostView.sysctlKey(ingress.name, "rp_filter"))=2"
                    + lastingFix(setting: "rp_filter", on: ingress.name, good: 2)
                guard
                    add(
                        .reversePathFilter, false,
                        "rp_filter=1 on \(ingress.name) while replies to \(first.origin) leave by \(name(of: route(to: first.address)?.outputInterface) ?? "no route")",
                        fix: fix, routing: true)
                else { return path }
            }
        }
        // The kernel, where asked, has the last word on routing: a refusal the model did not foresee.
        if let kernel, let failure = kernel.failure {
            disagreements.append(
                "\(port.subject) from \(ingress.name): the model passes every routing hop, the kernel refuses (\(failure.detail))")
            // Named by what the kernel's errno points at (the model may only lag behind an event).
            _ = add(failure.hop, false, "the kernel refuses: \(failure.detail)", fix: failure.fix)
            return path
        }
        // Last, the target itself: does it answer ARP on the egress (DnatTargetNotAnswering.swift)?
        if !path.isBroken, let hop = targetNeighbourHop(port, on: egress) {
            _ = add(hop.name, hop.passes, hop.detail, fix: hop.fix)
        }
        return path
    }

    /// The hops every path from `ingress` starts with after the prerouting chains: forwarding in `all`
    /// and on the ingress itself, as the model sees them (no kernel answers), up to the first broken one.
    func ingressForwardingHops(of ingress: Link) -> (hops: [PathHop], broken: Bool) {
        let all = allConf?.forwarding
        let global = PathHop(
            name: .ipForwarding, passes: all.map { $0 == 1 }, detail: "net.ipv4.conf.all.forwarding=\(all.map(String.init) ?? "unknown")",
            fix: all.map { $0 == 1 } == false ? "sysctl -w net.ipv4.ip_forward=1" : nil)
        guard global.passes != false else { return ([global], true) }
        let own = forwardingHop(on: ingress, as: .ingressForwarding)
        return ([global, own], own.passes == false)
    }

    /// The `forwarding` sysctl of `link` as hop `name`, with its fix (and the file that would set it back)
    /// when it breaks the path.
    func forwardingHop(on link: Link, as name: PathHop.Name, note: String = "") -> PathHop {
        let key = HostView.sysctlKey(link.name, "forwarding")
        let value = conf(link)?.forwarding
        let passes = value.map { $0 == 1 }
        return PathHop(
            name: name, passes: passes, detail: "\(key)=\(value.map(String.init) ?? "unknown")\(note)",
            fix: passes == false ? "sysctl -w \(key)=1" + lastingFix(setting: "forwarding", on: link.name, good: 1) : nil)
    }

    /// "; to make it last, ..." when a configuration file sets `setting` of `interface` to a value other
    /// than `good` again (sysctl.d, networkd); empty otherwise.
    func lastingFix(setting: String, on interface: String, good: Int) -> String {
        guard let source = persistentSource(of: setting, on: interface), source.value != good else { return "" }
        return "; " + source.lastingFix(good: good)
    }

    /// What the forward hook does with a new connection to `port` arriving on `ingress` and leaving by
    /// `egress`, as a hop (its fix set whatever the verdict); nil when the rules were not read.
    func forwardChainHop(_ port: PublishedPort, from ingress: Link, to egress: Link) -> PathHop? {
        guard let ruleIndex, let target = port.targetAddress else { return nil }
        // Walked once per representative client of the ingress, so that a rule on the source address
        // (netavark's `-s 10.88.0.0/16 -j ACCEPT`, an operator's allow-list) is decided, not guessed.
        let (clients, clientsKey) = forwardClients(of: ingress)
        let local = localAddresses.contains(target.value)
        let key = ForwardHopCache.Key(
            prerouting: false, destination: target.value, transport: port.transport, port: port.destinationPort,
            ingress: ingress.index, egress: egress.index, local: local, clients: clientsKey)
        if let known = forwardHops.hop(key) { return known }
        let sources: [RepresentativeClient?] = clients.isEmpty ? [nil] : clients
        let walks = sources.map { client in
            (client, PacketWalk(
                rules: ruleIndex,
                packet: ProbePacket(
                    inInterface: ingress.name, outInterface: egress.name, source: client?.address, destination: target,
                    destinationIsLocal: local, transport: port.transport, destinationPort: port.destinationPort,
                    translated: true)
            ).walk(.forward))
        }
        let hop = forwardChainHop(port, walks: walks, rules: ruleIndex, ingress: ingress, egress: egress)
        forwardHops.store(hop, key)
        return hop
    }

    /// What the filter, raw and mangle chains on the prerouting hook do with a new connection to `port`
    /// arriving on `ingress`, before the routing decision; nil when there are no such chains.
    func preroutingHop(_ port: PublishedPort, from ingress: Link) -> PathHop? {
        guard let ruleIndex, ruleIndex.baseChains(.prerouting).contains(where: { $0.chain.base?.type != .nat }) else {
            return nil
        }
        let own = ipv4(of: ingress).map(\.address)
        let listen = port.listen?.compactMap { IPv4Prefix($0) }
        let destination =
            listen.map { prefixes in own.first { address in prefixes.contains { $0.contains(address) } } ?? prefixes.first?.network }
            ?? own.first
        guard let destination else { return nil }
        let (clients, clientsKey) = forwardClients(of: ingress)
        let key = ForwardHopCache.Key(
            prerouting: true, destination: destination.value, transport: port.transport, port: port.hostPorts.first,
            ingress: ingress.index, egress: 0, local: true, clients: clientsKey)
        if let known = forwardHops.hop(key) { return known }
        let sources: [RepresentativeClient?] = clients.isEmpty ? [nil] : clients
        let walks: [(client: RepresentativeClient?, outcomes: PacketWalk.Outcomes)] = sources.map { client in
            (client, PacketWalk(
                rules: ruleIndex,
                packet: ProbePacket(
                    inInterface: ingress.name, outInterface: nil, source: client?.address, destination: destination,
                    destinationIsLocal: true, transport: port.transport, destinationPort: port.hostPorts.first)
            ).walk(.prerouting, skippingNat: true))
        }
        let dropped = walks.filter { !$0.outcomes.drops.isEmpty }
        var hop = PathHop(name: .preroutingFilter, passes: true, detail: "accepted by the prerouting chains")
        if let drop = dropped.first?.outcomes.drops.first {
            let by = drop.place + (drop.text.map { " (\($0))" } ?? "")
            let table = drop.rule.flatMap { place in snapshot.firewall?.tables.first { $0.id == place.table } }
                ?? snapshot.firewall?.tables.first { drop.place.hasPrefix("the \($0.id) ") }
            let owner = table.map { StackOwner.of(table: $0.id, chain: drop.rule?.chain ?? "") }
            let fix =
                owner == .firewalld
                ? "firewall-cmd --query-panic && firewall-cmd --panic-off  # or remove the rule that drops it"
                : "remove the rule that drops it (\(by))"
            if dropped.count == walks.count, dropped.allSatisfy({ !$0.outcomes.passes }) {
                hop = PathHop(name: .preroutingFilter, passes: false, detail: "dropped before routing by \(by)", fix: fix)
            } else {
                hop = PathHop(name: .preroutingFilter, passes: nil, detail: "dropped before routing by \(by) for some clients", fix: fix)
            }
        }
        forwardHops.store(hop, key)
        return hop
    }

    /// The clients the forward chain is walked for from `ingress` (its own and those the rules name),
    /// with their addresses joined, for the verdict cache's key.
    func forwardClients(of ingress: Link) -> (clients: [RepresentativeClient], key: String) {
        if let known = forwardClientsByIngress[ingress.index] { return known }
        let own = clients(of: ingress)
        let all = own + ruleNamedClients(arrivingOn: ingress, besides: own)
        return (all, all.map(\.text).joined(separator: ","))
    }

    private func forwardChainHop(
        _ port: PublishedPort, walks: [(client: RepresentativeClient?, outcomes: PacketWalk.Outcomes)],
        rules ruleIndex: RuleSetIndex, ingress: Link, egress: Link
    ) -> PathHop {
        let dropped = walks.filter { !$0.outcomes.drops.isEmpty }
        let passes: Bool?
        let detail: String
        let firstDrop = dropped.first?.outcomes.drops.first
        if let drop = firstDrop {
            let by = drop.place + (drop.text.map { " (\($0))" } ?? "")
            let owner = drop.rule.map { StackOwner.of(table: $0.table, chain: $0.chain) }
            let allDrops = dropped.flatMap(\.outcomes.drops)
            if let owner, owner.isolatesItsNetworks, isContainerBridge(ingress), allDrops.allSatisfy({ $0.rule != nil }),
                allDrops.allSatisfy({ StackOwner.of(table: $0.rule!.table, chain: $0.rule!.chain).isolatesItsNetworks })
            {
                // From one of the host's container networks into another: the engine's own isolation
                // between its networks (Docker's isolation chains, DOCKER-INTERNAL, an unpublished-port
                // drop), by design, not an alarm. A DNAT sending an outside client there is walked from
                // the outside interface and still named.
                passes = nil
                detail = "\(PathHop.isolatedByDesign) \(owner.rawValue) keeps \(ingress.name)'s network from \(egress.name) (\(by))"
            } else if dropped.count == walks.count, dropped.allSatisfy({ !$0.outcomes.passes }) {
                passes = false
                detail = "dropped by \(by)"
            } else if dropped.count < walks.count {
                // Some clients pass, some are dropped: an allow-list is the operator's choice, not a fault.
                let refused = dropped.compactMap { $0.client?.origin }
                passes = nil
                detail = "dropped by \(by) for \(refused.isEmpty ? "some clients" : refused.joined(separator: ", ")); other clients pass"
            } else {
                passes = nil
                let at = dropped.compactMap(\.outcomes.undecidedAt).first
                detail = "dropped by \(by) for some clients (it depends on \(at ?? "a condition fwdwatch cannot decide"))"
            }
        } else {
            passes = true
            detail = ruleIndex.baseChains(.forward).isEmpty ? "no forward filter" : "accepted by the forward chains"
        }
        return PathHop(
            name: .forwardChain, passes: passes, detail: detail,
            fix: forwardFix(port, ingress: ingress, egress: egress, drop: firstDrop))
    }

    /// The command that lets the connection through, in the words of the stack that owns the rule that
    /// drops it: ufw's own command for a ufw chain (an iptables rule would be flushed by `ufw reload`),
    /// firewalld's for its table, `nft insert` for another native table, DOCKER-USER only where Docker's
    /// chain exists, FORWARD elsewhere.
    func forwardFix(_ port: PublishedPort, ingress: Link, egress: Link, drop: PacketWalk.Drop?) -> String {
        let accept = "-i \(ingress.name) -o \(egress.name) -d \(port.target) -p \(port.transport) --dport \(port.destinationPort) -j ACCEPT"
        let place = drop?.rule
        let table = place.flatMap { place in snapshot.firewall?.tables.first { $0.id == place.table } }
        let owner = place.map { StackOwner.of(table: $0.table, chain: $0.chain) }
        if owner == .ufw {
            return "ufw route insert 1 allow in on \(ingress.name) out on \(egress.name) to \(port.target) port \(port.destinationPort) proto \(port.transport)  # or delete the ufw route rule that denies it (ufw status numbered)"
        }
        if let table, table.backend == .nftables {
            let tableOwner = StackOwner.of(table: table.id, chain: "")
            let base = table.chainOrder.first { table.chains[$0]?.base?.hook == .forward } ?? "forward"
            let insert = "nft insert rule \(table.family.rawValue) \(table.name) \(base) iifname \"\(ingress.name)\" oifname \"\(egress.name)\" ip daddr \(port.target) \(port.transport) dport \(port.destinationPort) accept"
            switch tableOwner {
            case .firewalld:
                return "firewall-cmd --get-active-zones  # allow forwarding from \(ingress.name)'s zone to \(egress.name)'s (a policy with target ACCEPT), or remove the rule that drops it; a hand-made nft rule is lost on firewall-cmd --reload"
            case .other:
                return "\(insert)  # or remove the rule that drops it"
            default:
                return "\(insert)  # the table belongs to \(tableOwner.rawValue), which rewrites it: change its configuration to make it last"
            }
        }
        let filter = snapshot.firewall?.tables.first { $0.backend != .nftables && $0.name == "filter" && $0.chains["DOCKER-USER"] != nil }
        let legacy = table?.backend == .iptablesLegacy ? "iptables-legacy" : "iptables"
        // An accept in DOCKER-USER helps only if the packet gets there before the drop: not for a drop in
        // FORWARD above its jump to DOCKER-USER (firewalld's direct rules land at FORWARD's head).
        let jump = filter?.chains["FORWARD"]?.rules.firstIndex { $0.target == .jump(chain: "DOCKER-USER") }
        let dropBeforeJump = place.map { $0.chain == "FORWARD" && $0.position < (jump ?? Int.max) } ?? false
        if filter != nil, !dropBeforeJump { return "\(legacy) -I DOCKER-USER \(accept)  # or remove the rule that drops it" }
        return "\(legacy) -I FORWARD \(accept)  # or remove the rule that drops it"
    }

    /// The interface a published port's packets leave by towards the target: the kernel's or the route's,
    /// or when there is no usable route, the interface whose own subnet holds the target. Nil when neither.
    public func egressInterface(for port: PublishedPort, from ingress: Link) -> Link? {
        guard let target = port.targetAddress else { return nil }
        // Where the kernel refuses everything from the ingress it names no egress: the model's route decides.
        if !kernelRefusesForwarding.contains(ingress.name),
            let out = kernelVerdict(port: port, target: target, ingress: ingress)?.egress, let link = linksByName[out],
            link.index != ingress.index
        {
            return link
        }
        if let route = route(to: target), route.type == "unicast", let index = route.outputInterface,
            index != ingress.index, let link = linksByIndex[index]
        {
            return link
        }
        return homeInterface(of: target)?.link
    }
}
