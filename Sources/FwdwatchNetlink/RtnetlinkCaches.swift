import CNetlink
import FwdwatchCore

/// The libnl caches that mirror the kernel's tables, and the one place that turns them into a
/// `NetlinkState`. The same caches serve the initial dump, live events and resyncs.
///
/// Not thread-safe (libnl caches are not): owned by one thread.
final class RtnetlinkCaches {
    /// AF_UNSPEC link objects: one per interface.
    private let links: OpaquePointer
    /// AF_BRIDGE link objects: bridges and bridge ports (their STP state). Kept apart from `links`
    /// because libnl lets an AF_BRIDGE object replace a bridge's AF_UNSPEC object in a shared cache.
    private let bridgeLinks: OpaquePointer
    private let addresses: OpaquePointer
    /// IPv4 routes of every table; the state keeps main and local.
    private let routes: OpaquePointer
    /// IPv4 and IPv6 netconf; libnl merges the partial RTM_NEWNETCONF messages into these objects.
    private let netconf: OpaquePointer
    /// The neighbour table. libnl 3.7 dumps neighbours of every family or of AF_BRIDGE only (an
    /// AF_INET cache fails with NLE_INVAL): the dump brings IPv6 entries too, events only IPv4 ones,
    /// and the state keeps IPv4 only.
    private let neighbours: OpaquePointer

    /// Swift copies of what the caches hold, kept up to date object by object as events are applied, so
    /// `state()` does not convert every libnl object again after each event (at 3,000 veths that was a
    /// third of the daemon's CPU during churn). Links and netconf are mirrored per object (they change
    /// with every interface); addresses, routes and neighbours are re-read only when their cache changed.
    private var linkMirror: [Int32: Link] = [:]
    private var portStateMirror: [Int32: BridgePortState] = [:]
    private var netconfMirror: [NetconfKey: NetconfValues] = [:]
    private var addressMirror: [Address]?
    private var routeMirror: [Route]?
    private var neighbourMirror: [Neighbour]?

    private struct NetconfKey: Hashable {
        var family: Int32
        var index: Int32
    }

    init() throws {
        links = try Self.allocate("route/link", family: RtnetlinkFamily.unspecified, what: "links")
        bridgeLinks = try Self.allocate("route/link", family: RtnetlinkFamily.bridge, what: "bridge ports")
        addresses = try Self.allocate("route/addr", family: RtnetlinkFamily.unspecified, what: "addresses")
        routes = try Self.allocate("route/route", family: RtnetlinkFamily.ipv4, what: "routes")
        netconf = try Self.allocate("route/netconf", family: nil, what: "netconf")
        neighbours = try Self.allocate("route/neigh", family: RtnetlinkFamily.unspecified, what: "neighbours")
    }

    deinit {
        for cache in [links, bridgeLinks, addresses, routes, netconf, neighbours] {
            nl_cache_free(cache)
        }
    }

    /// A cache for one family, or (family nil) for every family its type knows (NL_CACHE_AF_ITER).
    private static func allocate(_ type: String, family: Int32?, what: String) throws -> OpaquePointer {
        var cache: OpaquePointer?
        let result = nl_cache_alloc_name(type, &cache)
        guard result == 0, let cache else {
            throw NetlinkError(operation: "allocating the \(what) cache", code: result < 0 ? result : -NLE_NOMEM)
        }
        if let family {
            nl_cache_set_arg1(cache, family)
        } else {
            nl_cache_set_flags(cache, UInt32(NL_CACHE_AF_ITER))
        }
        return cache
    }

    // MARK: Dumps

    /// Replaces every cache's content with a fresh dump read through `socket`.
    func refillAll(using socket: OpaquePointer) throws {
        defer { rebuildMirrors() }
        try refill(links, "dumping links", socket)
        try refill(bridgeLinks, "dumping bridge ports", socket)
        try refill(addresses, "dumping addresses", socket)
        try refill(routes, "dumping routes", socket)
        try refill(netconf, "dumping netconf", socket)
        try refill(neighbours, "dumping neighbours", socket)
    }

    /// Re-dumps the IPv4 routes: the kernel removes the routes of a link that goes down without
    /// sending RTM_DELROUTE.
    func refillRoutes(using socket: OpaquePointer) throws {
        routeMirror = nil
        try refill(routes, "dumping routes", socket)
    }

    /// Reads every mirrored object from the caches again (after a dump).
    private func rebuildMirrors() {
        linkMirror = [:]
        forEach(links) { object in
            if let link = LibnlObjects.link(object) { linkMirror[link.index] = link }
        }
        portStateMirror = [:]
        forEach(bridgeLinks) { object in
            if let port = LibnlObjects.bridgePort(object) { portStateMirror[port.index] = port.state }
        }
        netconfMirror = [:]
        forEach(netconf) { object in
            if let entry = LibnlObjects.netconf(object) {
                netconfMirror[NetconfKey(family: entry.family, index: entry.index)] = entry.values
            }
        }
        addressMirror = nil
        routeMirror = nil
        neighbourMirror = nil
    }

    /// Brings the mirror of `cache` up to date with `object`, just applied to it.
    private func mirror(_ object: OpaquePointer, appliedTo cache: OpaquePointer) {
        let deleted: Bool
        switch Int32(nl_object_get_msgtype(object)) {
        case Int32(RTM_DELLINK), Int32(RTM_DELNETCONF): deleted = true
        default: deleted = false
        }
        if cache == links {
            let index = rtnl_link_get_ifindex(object)
            if deleted {
                linkMirror[index] = nil
            } else if let merged = nl_cache_search(links, object) {
                linkMirror[index] = LibnlObjects.link(merged)
                nl_object_put(merged)
            }
        } else if cache == bridgeLinks {
            let index = rtnl_link_get_ifindex(object)
            if deleted {
                portStateMirror[index] = nil
            } else if let merged = nl_cache_search(bridgeLinks, object) {
                portStateMirror[index] = LibnlObjects.bridgePort(merged)?.state
                nl_object_put(merged)
            }
        } else if cache == netconf {
            guard let entry = LibnlObjects.netconf(object) else { return }
            let key = NetconfKey(family: entry.family, index: entry.index)
            if deleted {
                netconfMirror[key] = nil
            } else if let merged = nl_cache_search(netconf, object) {
                netconfMirror[key] = LibnlObjects.netconf(merged)?.values
                nl_object_put(merged)
            }
        } else if cache == addresses {
            addressMirror = nil
        } else if cache == routes {
            routeMirror = nil
        } else if cache == neighbours {
            neighbourMirror = nil
        }
    }

    /// A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried a few times.
    private func refill(_ cache: OpaquePointer, _ operation: String, _ socket: OpaquePointer) throws {
        var result: Int32 = 0
        for _ in 0..<Self.dumpAttempts {
            result = nl_cache_refill(socket, cache)
            if result >= 0 { return }
            if result != -NLE_DUMP_INTR { break }
        }
        throw NetlinkError(operation: operation, code: result)
    }

    private static let dumpAttempts = 5

    // MARK: Events

    /// What applying one event message did.
    enum EventOutcome {
        /// The message is of no interest (another family, a type we do not track).
        case ignored
        /// A cache changed.
        case applied
        /// A cache changed, and a link went down or away: its IPv4 routes vanished silently.
        case appliedRoutesStale
        /// A cache changed in a way no finding depends on (a neighbour's REACHABLE -> STALE): it needs
        /// no update of its own and rides along with the next one.
        case appliedQuietly
        /// libnl could not parse the message; it was skipped.
        case malformed(Int32)
    }

    /// Applies one RTM_* notification to the cache it belongs to.
    func apply(_ message: OpaquePointer) -> EventOutcome {
        guard let header = nlmsg_hdr(message) else { return .malformed(-NLE_MSG_TOOSHORT) }
        let type = Int32(header.pointee.nlmsg_type)
        let target: OpaquePointer
        switch type {
        case Int32(RTM_NEWLINK), Int32(RTM_DELLINK):
            switch Self.leadingFamily(header) {
            case RtnetlinkFamily.unspecified: target = links
            case RtnetlinkFamily.bridge: target = bridgeLinks
            case nil: return .malformed(-NLE_MSG_TOOSHORT)
            default: return .ignored  // AF_INET6 link objects duplicate AF_UNSPEC ones
            }
        case Int32(RTM_NEWADDR), Int32(RTM_DELADDR):
            target = addresses
        case Int32(RTM_NEWROUTE), Int32(RTM_DELROUTE):
            switch Self.leadingFamily(header) {
            case RtnetlinkFamily.ipv4: target = routes
            case nil: return .malformed(-NLE_MSG_TOOSHORT)
            default: return .ignored
            }
        case Int32(RTM_NEWNETCONF), Int32(RTM_DELNETCONF):
            target = netconf
        case Int32(RTM_NEWNEIGH), Int32(RTM_DELNEIGH):
            switch Self.leadingFamily(header) {
            case RtnetlinkFamily.ipv4: target = neighbours
            case nil: return .malformed(-NLE_MSG_TOOSHORT)
            default: return .ignored
            }
        default:
            return .ignored
        }
        var parse = ParseContext(caches: self, target: target)
        let result = withUnsafeMutablePointer(to: &parse) { context in
            nl_msg_parse(message, { object, argument in
                guard let object, let argument else { return }
                let context = argument.assumingMemoryBound(to: ParseContext.self)
                context.pointee.caches.include(object, into: context.pointee.target, outcome: &context.pointee.outcome)
            }, context)
        }
        if result < 0 { return .malformed(result) }
        return parse.outcome
    }

    private struct ParseContext {
        let caches: RtnetlinkCaches
        let target: OpaquePointer
        var outcome: EventOutcome = .ignored
    }

    private func include(_ object: OpaquePointer, into cache: OpaquePointer, outcome: inout EventOutcome) {
        var routesStale = false
        var quiet = false
        if cache == links {
            routesStale = linkGoesDown(object)
        } else if cache == neighbours {
            quiet = !neighbourChangeMatters(object)
        }
        let result = nl_cache_include(cache, object, nil, nil)
        if result < 0 {
            outcome = .malformed(result)
        } else {
            mirror(object, appliedTo: cache)
            outcome = routesStale ? .appliedRoutesStale : quiet ? .appliedQuietly : .applied
        }
    }

    /// Whether a neighbour event, about to be applied, changes what the rules can see (see
    /// `NeighbourChange`).
    private func neighbourChangeMatters(_ object: OpaquePointer) -> Bool {
        var before: Neighbour?
        if let old = nl_cache_search(neighbours, object) {
            before = LibnlObjects.neighbour(old)
            nl_object_put(old)
        }
        let after = nl_object_get_msgtype(object) == Int32(RTM_DELNEIGH) ? nil : LibnlObjects.neighbour(object)
        return NeighbourChange.mattersToRules(from: before, to: after)
    }

    /// True for the removal of a link, or for a link that was up and is now administratively down.
    private func linkGoesDown(_ object: OpaquePointer) -> Bool {
        if nl_object_get_msgtype(object) == Int32(RTM_DELLINK) { return true }
        guard let old = nl_cache_search(links, object) else { return false }
        defer { nl_object_put(old) }
        let wasUp = rtnl_link_get_flags(old) & InterfaceFlags.up != 0
        let isUp = rtnl_link_get_flags(object) & InterfaceFlags.up != 0
        return wasUp && !isUp
    }

    /// The family byte that starts ifinfomsg, rtmsg and ifaddrmsg; nil for a truncated message.
    private static func leadingFamily(_ header: UnsafeMutablePointer<nlmsghdr>) -> Int32? {
        guard nlmsg_datalen(header) >= 1, let data = nlmsg_data(header) else { return nil }
        return Int32(data.load(as: UInt8.self))
    }

    // MARK: State

    /// The caches' content as model values, in canonical order.
    func state() -> NetlinkState {
        var links: [Link] = []
        links.reserveCapacity(linkMirror.count)
        for var link in linkMirror.values {
            if link.master != nil { link.bridgePortState = portStateMirror[link.index] }
            links.append(link)
        }
        links.sort { $0.index < $1.index }
        var names: [Int32: String] = [NetconfIndex.all: "all", NetconfIndex.default: "default"]
        for link in links { names[link.index] = link.name }

        if addressMirror == nil {
            var addresses: [Address] = []
            forEach(self.addresses) { object in
                if let address = LibnlObjects.address(object) { addresses.append(address) }
            }
            addressMirror = addresses.sorted(by: Self.canonicalOrder)
        }
        if routeMirror == nil {
            var routes: [Route] = []
            forEach(self.routes) { object in
                if let route = LibnlObjects.route(object) { routes.append(route) }
            }
            routeMirror = routes.sorted(by: Self.canonicalOrder)
        }

        var ipv4Netconf: [String: NetconfValues] = [:]
        var ipv6Forwarding: [String: Int] = [:]
        for (key, values) in netconfMirror {
            guard let name = names[key.index] else { continue }
            switch key.family {
            case RtnetlinkFamily.ipv4: ipv4Netconf[name] = values
            case RtnetlinkFamily.ipv6: if let forwarding = values.forwarding { ipv6Forwarding[name] = forwarding }
            default: break
            }
        }
        if neighbourMirror == nil {
            var neighbours: [Neighbour] = []
            forEach(self.neighbours) { object in
                if let neighbour = LibnlObjects.neighbour(object) { neighbours.append(neighbour) }
            }
            neighbourMirror = neighbours.sorted(by: NeighbourChange.canonicalOrder)
        }
        return NetlinkState(
            links: links, addresses: addressMirror ?? [], routes: routeMirror ?? [],
            ipv4Netconf: ipv4Netconf, ipv6Forwarding: ipv6Forwarding, neighbours: neighbourMirror ?? []
        )
    }

    private func forEach(_ cache: OpaquePointer, _ body: (OpaquePointer) -> Void) {
        var object = nl_cache_get_first(cache)
        while let current = object {
            body(current)
            object = nl_cache_get_next(current)
        }
    }

    private static func canonicalOrder(_ a: Address, _ b: Address) -> Bool {
        (a.interfaceIndex, a.family == .ipv4 ? 0 : 1, a.address, a.prefixLength)
            < (b.interfaceIndex, b.family == .ipv4 ? 0 : 1, b.address, b.prefixLength)
    }

    private static func canonicalOrder(_ a: Route, _ b: Route) -> Bool {
        (a.table, a.destination, a.metric, a.type, a.outputInterface ?? 0, a.gateway ?? "")
            < (b.table, b.destination, b.metric, b.type, b.outputInterface ?? 0, b.gateway ?? "")
    }
}
