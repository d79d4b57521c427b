/// A `Snapshot` indexed for the rules: lookups by index and name, bridges and their ports,
/// parsed routes, effective sysctls. Built once per evaluation; pure.
public struct HostView: Sendable {
    public let snapshot: Snapshot
    public let settings: Settings
    public let linksByIndex: [Int32: Link]
    public let linksByName: [String: Link]
    /// IPv4 addresses by interface index.
    public let ipv4Addresses: [Int32: [(address: IPv4Address, prefix: IPv4Prefix)]]
    /// Unicast, blackhole, unreachable and prohibit routes of the main table, parsed.
    public let mainRoutes: [(prefix: IPv4Prefix, route: Route)]
    /// Watched bridges, by name.
    public let bridges: [Link]
    /// Ports of every bridge, by the bridge's index.
    public let ports: [Int32: [Link]]
    /// Every port published on this host (found by following the nat flow; empty when the firewall
    /// rules were not read), sorted by port.
    public internal(set) var publishedPorts: [PublishedPort] = []
    /// Positions in `publishedPorts` by DNAT target.
    var portsByTarget: [String: [Int]] = [:]
    /// How many published ports (targets) share each "10001/tcp".
    var subjectCounts: [String: Int] = [:]
    /// The interfaces each published port is reached from (same order as `publishedPorts`).
    public internal(set) var portIngresses: [[Link]] = []
    /// The path of every published port from each of its ingress interfaces (same order as
    /// `publishedPorts`), walked once per view: the port table and the rules all read it.
    public private(set) var portPaths: [[PortPath]] = []
    /// The rules indexed for the walks; nil when they were not read.
    let ruleIndex: RuleSetIndex?
    /// Forward-chain verdicts already walked for this rule set (shared through `EvaluationMemo`).
    let forwardHops: ForwardHopCache
    /// Findings of rules that read only the rules and the topology (shared through `EvaluationMemo`).
    let topologyFindings: FindingsCache
    /// Every address the host holds (the local table's view: what `addrtype LOCAL` matches).
    public let localAddresses: Set<UInt32>
    /// Main-table routes by prefix length, then network: a longest-prefix lookup is 33 probes.
    private let routesByLength: [[UInt32: [Route]]]
    /// The interface holding each on-link prefix, by prefix length then network.
    private let subnetsByLength: [[UInt32: [(link: Link, address: IPv4Address, prefix: IPv4Prefix)]]]
    /// Neighbour entries by interface and address.
    private let neighboursByKey: [String: Neighbour]
    /// The kernel's answers, by question.
    let routeAnswers: [RouteQuestion: RouteAnswer]
    /// Interfaces from which the kernel refuses every forwarding question it was asked with EHOSTUNREACH
    /// (forwarding is off there): a path from them that the model breaks at a forwarding sysctl needs no
    /// per-port look at the answers, the kernel agrees for every port.
    let kernelRefusesForwarding: Set<String>
    /// The forwarding hops of every ingress interface (`ingressForwardingHops(of:)`), by ifindex.
    var forwardingHopsByIngress: [Int32: (hops: [PathHop], broken: Bool)] = [:]
    /// The representative clients of every ingress interface (`clients(of:)`), by ifindex.
    var clientsByIngress: [Int32: [RepresentativeClient]] = [:]
    /// `forwardClients(of:)` of every ingress interface, by ifindex.
    var forwardClientsByIngress: [Int32: (clients: [RepresentativeClient], key: String)] = [:]
    /// Where the kernel's answer and the hand model disagreed during this view's walks (collected by
    /// the path walk; read by the evaluation).
    public private(set) var modelDisagreements: [String] = []

    public init(_ snapshot: Snapshot, settings: Settings = .defaults) {
        var memo = EvaluationMemo()
        self.init(snapshot, settings: settings, memo: &memo, rulesVersion: nil)
    }

    /// A view that reuses what `memo` holds from the previous evaluation when it still applies: the rule
    /// index and the forward-chain verdicts while `rulesVersion` is unchanged (nil: never reuse), the
    /// published ports and their ingresses while the links and addresses are unchanged too. `memo` is
    /// updated for the next evaluation. `walkPaths: false` stops after the ports are found (enough for
    /// `routeQuestions`).
    public init(
        _ snapshot: Snapshot, settings: Settings = .defaults, memo: inout EvaluationMemo, rulesVersion: Int?,
        walkPaths: Bool = true
    ) {
        self.snapshot = snapshot
        self.settings = settings
        var byIndex: [Int32: Link] = [:]
        var byName: [String: Link] = [:]
        for link in snapshot.links {
            byIndex[link.index] = link
            byName[link.name] = link
        }
        linksByIndex = byIndex
        linksByName = byName

        var addresses: [Int32: [(IPv4Address, IPv4Prefix)]] = [:]
        var local: Set<UInt32> = []
        for entry in snapshot.addresses where entry.family == .ipv4 {
            guard let address = IPv4Address(entry.address), (0...32).contains(entry.prefixLength) else { continue }
            addresses[entry.interfaceIndex, default: []].append(
                (address, IPv4Prefix(address: address, length: entry.prefixLength)))
            local.insert(address.value)
        }
        for route in snapshot.routes where route.table == Route.localTable && route.type == "local" {
            if let prefix = IPv4Prefix(route.destination), prefix.length == 32 { local.insert(prefix.network.value) }
        }
        localAddresses = local
        ipv4Addresses = addresses.mapValues { $0.map { (address: $0.0, prefix: $0.1) } }

        let routable: Set<String> = ["unicast", "blackhole", "unreachable", "prohibit"]
        mainRoutes = snapshot.routes.compactMap { route in
            guard route.table == Route.mainTable, routable.contains(route.type),
                let prefix = IPv4Prefix(route.destination)
            else { return nil }
            return (prefix: prefix, route: route)
        }
        var byLength = [[UInt32: [Route]]](repeating: [:], count: 33)
        for (prefix, route) in mainRoutes { byLength[prefix.length][prefix.network.value, default: []].append(route) }
        routesByLength = byLength
        var subnets = [[UInt32: [(link: Link, address: IPv4Address, prefix: IPv4Prefix)]]](repeating: [:], count: 33)
        for link in snapshot.links {
            for entry in addresses[link.index] ?? [] {
                subnets[entry.1.length][entry.1.network.value, default: []].append((link, entry.0, entry.1))
            }
        }
        subnetsByLength = subnets
        var neighbours: [String: Neighbour] = [:]
        for entry in snapshot.neighbours ?? [] { neighbours["\(entry.interfaceIndex) \(entry.address)"] = entry }
        neighboursByKey = neighbours
        let answers = HostView.routeAnswerIndex(snapshot.routeDecisions ?? [], memo: &memo)
        routeAnswers = answers.answers
        kernelRefusesForwarding = answers.refusing

        var ports: [Int32: [Link]] = [:]
        for link in snapshot.links {
            if let master = link.master, byIndex[master]?.isBridge == true {
                ports[master, default: []].append(link)
            }
        }
        self.ports = ports.mapValues { $0.sorted { $0.name < $1.name } }
        bridges = snapshot.links.filter { $0.isBridge && settings.isWatchedBridge($0.name) }
            .sorted { $0.name < $1.name }
        let reusable = rulesVersion != nil && memo.rulesVersion == rulesVersion && (memo.ruleIndex != nil) == (snapshot.firewall != nil)
        if !reusable {
            memo = EvaluationMemo(keepingRouteAnswersOf: memo)
            memo.rulesVersion = rulesVersion
            memo.ruleIndex = snapshot.firewall.map(RuleSetIndex.init)
        }
        ruleIndex = memo.ruleIndex
        forwardHops = memo.forwardHops
        let topology = HostView.topologyKey(snapshot, settings: settings)
        if !reusable || memo.topologyKey != topology || memo.ports == nil { memo.topologyFindings = FindingsCache() }
        topologyFindings = memo.topologyFindings
        var portsReused = false
        if reusable, memo.topologyKey == topology, let known = memo.ports {
            portsReused = true
            publishedPorts = known.ports
            portIngresses = known.ingresses.map { indexes in indexes.compactMap { byIndex[$0] } }
            if let index = memo.portIndex {
                portsByTarget = index.byTarget
                subjectCounts = index.subjectCounts
            } else {
                indexPorts()
            }
        } else {
            discoverPorts()
            memo.topologyKey = topology
            memo.ports = (publishedPorts, portIngresses.map { $0.map(\.index) })
        }
        memo.portIndex = (portsByTarget, subjectCounts)
        for link in ingressInterfaces {
            clientsByIngress[link.index] = findClients(of: link)
            forwardClientsByIngress[link.index] = forwardClients(of: link)
            forwardingHopsByIngress[link.index] = ingressForwardingHops(of: link)
        }
        guard walkPaths else { return }
        // After a change that only touches some interfaces' sysctls or route answers (a netconf event),
        // only the paths through those interfaces are walked again; the others are the last evaluation's.
        let unfilteredIngresses = portIngresses
        var prior: (snapshot: Snapshot, paths: [[PortPath]], disagreements: [[String]])?
        var changed: Set<String>?
        if portsReused {
            for walk in memo.walks {
                guard let difference = HostView.changedInterfaces(from: walk.snapshot, to: snapshot) else { continue }
                if changed == nil || difference.count < changed!.count {
                    prior = walk
                    changed = difference
                }
                if difference.isEmpty { break }
            }
        }
        var disagreements: [[String]] = []
        var paths: [[PortPath]] = []
        paths.reserveCapacity(publishedPorts.count)
        for position in publishedPorts.indices {
            if let prior, let changed, position < prior.paths.count,
                !unfilteredIngresses[position].contains(where: { changed.contains($0.name) }),
                !prior.paths[position].contains(where: { $0.egress.map(changed.contains) ?? false })
            {
                paths.append(prior.paths[position])
                portIngresses[position] = unfilteredIngresses[position].filter { link in
                    prior.paths[position].contains { $0.ingress == link.name }
                }
                disagreements.append(position < prior.disagreements.count ? prior.disagreements[position] : [])
                continue
            }
            var portDisagreements: [String] = []
            let walked = unfilteredIngresses[position].map {
                path(of: publishedPorts[position], from: $0, disagreements: &portDisagreements)
            }
            // A container network the engine isolates from the target's on purpose is no ingress of it.
            let kept = walked.filter { !$0.isIsolatedByDesign }
            if kept.count != walked.count {
                portIngresses[position] = unfilteredIngresses[position].filter { link in kept.contains { $0.ingress == link.name } }
            }
            paths.append(kept)
            disagreements.append(portDisagreements)
        }
        portPaths = paths
        modelDisagreements = disagreements.flatMap { $0 }
        if !portsReused { memo.walks = [] }
        memo.walks.insert((snapshot, paths, disagreements), at: 0)
        if memo.walks.count > EvaluationMemo.walksKept { memo.walks.removeLast() }
    }

    /// The kernel's answers by question, and the interfaces it refuses every forwarding question from;
    /// kept in `memo` and updated in place when only some answers changed (after a flip, the answers
    /// for one interface), so an evaluation does not hash tens of thousands of questions again.
    static func routeAnswerIndex(
        _ decisions: [RouteDecision], memo: inout EvaluationMemo
    ) -> (answers: [RouteQuestion: RouteAnswer], refusing: Set<String>) {
        if let known = memo.routeAnswers, known.decisions == decisions { return (known.answers, known.refusing) }
        var answers: [RouteQuestion: RouteAnswer]? = nil
        // The same questions in the same order with some answers changed (a flip): update those in place.
        // Anything else (questions added, removed or reordered) is indexed afresh.
        if var known = memo.routeAnswers, known.decisions.count == decisions.count,
            !zip(known.decisions, decisions).contains(where: { $0.question != $1.question })
        {
            memo.routeAnswers = nil  // so the dictionary below is updated in place, not copied
            var updated = known.answers
            known.answers = [:]
            for (old, new) in zip(known.decisions, decisions) where old.answer != new.answer {
                updated[new.question] = new.answer
            }
            answers = updated
        }
        let index = answers ?? Dictionary(decisions.map { ($0.question, $0.answer) }, uniquingKeysWith: { _, last in last })
        // An interface is refusing while every forwarding answer from it is EHOSTUNREACH. The decisions come
        // grouped by interface: look its state up only when the interface changes.
        var refusing: [String: Bool] = [:]
        var current = ""
        var state: Bool?
        func flush() { if let state, !current.isEmpty { refusing[current] = (refusing[current] ?? true) && state } }
        for decision in decisions where !decision.question.isOutputLookup {
            if decision.question.inputInterface != current {
                flush()
                current = decision.question.inputInterface
                state = nil
            }
            if state == false { continue }
            switch decision.answer {
            case .error(let errno, _) where errno == "EHOSTUNREACH": state = true
            case .route(let type, _, _) where type == "local": continue  // for the host itself, not forwarded
            default: state = false
            }
        }
        flush()
        let result = Set(refusing.filter(\.value).keys)
        memo.routeAnswers = (decisions, index, result)
        return (index, result)
    }

    /// The interfaces whose sysctls or route answers differ between two snapshots of the same rules and
    /// links, when nothing else a path reads differs; nil when something else does (or `all`/`default`
    /// changed, which every path reads).
    static func changedInterfaces(from old: Snapshot, to new: Snapshot) -> Set<String>? {
        guard old.links == new.links, old.addresses == new.addresses, old.routes == new.routes,
            old.neighbours == new.neighbours, old.conntrack == new.conntrack,
            old.persistentSettings == new.persistentSettings
        else { return nil }
        var changed: Set<String> = []
        for name in Set(old.ipv4Conf.keys).union(new.ipv4Conf.keys) where old.ipv4Conf[name] != new.ipv4Conf[name] {
            changed.insert(name)
        }
        if changed.contains("all") || changed.contains("default") { return nil }
        let before = old.routeDecisions ?? []
        let after = new.routeDecisions ?? []
        guard before.count == after.count else { return nil }
        for (a, b) in zip(before, after) where a != b {
            guard a.question == b.question else { return nil }
            changed.insert(b.question.inputInterface)
        }
        return changed
    }

    /// The findings of `rule`, computed once while the rules, links, addresses and published ports stay the
    /// same: for rules that read nothing else (no sysctl, route, neighbour or kernel answer).
    func remembered(_ rule: RuleID, _ compute: () -> [Finding]) -> [Finding] {
        topologyFindings.findings(rule, compute: compute)
    }

    // MARK: Links

    public func link(named name: String) -> Link? { linksByName[name] }

    public func name(of index: Int32?) -> String? {
        guard let index else { return nil }
        return linksByIndex[index]?.name
    }

    public func ports(of bridge: Link) -> [Link] { ports[bridge.index] ?? [] }

    /// Watched bridges that have at least one port: the ones traffic is forwarded through.
    public var bridgesWithPorts: [Link] { bridges.filter { !ports(of: $0).isEmpty } }

    /// The subnets of the watched bridges that are up and have ports (a /32 is no subnet), each with
    /// the bridge's own address in it: what the bridge route rules check. A bridge that is down loses
    /// its routes; bridge-down reports that.
    public var upBridgeSubnets: [(bridge: Link, address: IPv4Address, subnet: IPv4Prefix)] {
        bridgesWithPorts.filter(\.adminUp).flatMap { bridge in
            ipv4(of: bridge).filter { $0.prefix.length < 32 }.map { (bridge, $0.address, $0.prefix) }
        }
    }

    /// True when the host forwards traffic for someone: a watched bridge has ports.
    public var needsForwarding: Bool { !bridgesWithPorts.isEmpty }

    /// Administratively up and with carrier: passing traffic.
    public func isUp(_ link: Link) -> Bool { link.adminUp && link.carrier }

    public func ipv4(of link: Link) -> [(address: IPv4Address, prefix: IPv4Prefix)] {
        ipv4Addresses[link.index] ?? []
    }

    /// Interfaces traffic can arrive on to be forwarded: up, not loopback, with an IPv4 address,
    /// not enslaved to a bridge or bond, not ignored. Bridges are included.
    public var ingressInterfaces: [Link] {
        snapshot.links.filter { link in
            isUp(link) && !link.loopback && link.master == nil && !ipv4(of: link).isEmpty
                && !settings.isIgnored(link.name)
        }.sorted { $0.name < $1.name }
    }

    // MARK: Sysctls

    public var allConf: InterfaceConf? { snapshot.ipv4Conf["all"] }
    public var defaultConf: InterfaceConf? { snapshot.ipv4Conf["default"] }
    public func conf(_ link: Link) -> InterfaceConf? { snapshot.ipv4Conf[link.name] }

    /// The rp_filter the kernel applies: the maximum of `all` and the interface's own value.
    public func effectiveRPFilter(_ link: Link) -> Int? {
        let own = conf(link)?.rpFilter
        let all = allConf?.rpFilter
        switch (own, all) {
        case let (own?, all?): return max(own, all)
        case let (value?, nil), let (nil, value?): return value
        case (nil, nil): return nil
        }
    }

    /// The sysctl key of an interface setting: dots in names (VLANs) become slashes, as sysctl(8) wants.
    public static func sysctlKey(_ interface: String, _ setting: String) -> String {
        let name = interface.replacingDots()
        return "net.ipv4.conf.\(name).\(setting)"
    }

    // MARK: Routes

    /// The main-table route the kernel would pick for `address`: longest prefix, then lowest metric.
    public func route(to address: IPv4Address) -> Route? { routeEntry(to: address)?.route }

    /// `route(to:)` with its parsed prefix.
    func routeEntry(to address: IPv4Address) -> (prefix: IPv4Prefix, route: Route)? {
        for length in stride(from: 32, through: 0, by: -1) {
            let network = address.value & IPv4Prefix.mask(length)
            if let routes = routesByLength[length][network], let best = routes.min(by: { $0.metric < $1.metric }) {
                return (IPv4Prefix(address: IPv4Address(network), length: length), best)
            }
        }
        return nil
    }

    /// The interface whose own subnet holds `address` (docker0 for 172.17.0.2), with that address entry;
    /// the longest such prefix when several do.
    func homeInterface(of address: IPv4Address) -> (link: Link, entry: (address: IPv4Address, prefix: IPv4Prefix))? {
        for length in stride(from: 32, through: 0, by: -1) {
            if let hit = subnetsByLength[length][address.value & IPv4Prefix.mask(length)]?.first {
                return (hit.link, (hit.address, hit.prefix))
            }
        }
        return nil
    }

    /// The neighbour (ARP) entry for `address` on `interface`; nil when there is none or the table
    /// was not read.
    func neighbour(_ address: String, on interface: Link) -> Neighbour? {
        neighboursByKey["\(interface.index) \(address)"]
    }

    /// Default routes of the main table, best (lowest metric) first.
    public var defaultRoutes: [Route] {
        mainRoutes.filter { $0.prefix.length == 0 }.map(\.route).sorted { $0.metric < $1.metric }
    }

    // MARK: Evidence

    /// The silent-drop rate, as evidence for the forwarding findings; empty when nothing was dropped.
    public var dropEvidence: [Evidence] {
        guard let sample = snapshot.dropSample, sample.inAddrErrors > 0, sample.seconds > 0 else { return [] }
        return [
            Evidence("in_addr_errors", String(sample.inAddrErrors)),
            Evidence("in_addr_errors_per_second", formatRate(sample.inAddrErrorsPerSecond)),
            Evidence("sample_seconds", formatRate(sample.seconds)),
        ]
    }
}

extension String {
    func replacingDots() -> String {
        String(map { $0 == "." ? "/" : $0 })
    }
}

/// Formats a non-negative rate with at most two decimals, without Foundation.
func formatRate(_ value: Double) -> String {
    // Values come from recorded files too: never trap on an infinite, NaN or huge one.
    guard value.isFinite, value >= 0, value < 1e15 else { return value.isNaN ? "unknown" : "\(value)" }
    let hundredths = Int((value * 100).rounded())
    let whole = hundredths / 100
    let fraction = hundredths % 100
    if fraction == 0 { return String(whole) }
    return fraction % 10 == 0 ? "\(whole).\(fraction / 10)" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}
