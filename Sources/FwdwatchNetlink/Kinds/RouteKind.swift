import CNetlink
import FwdwatchCore

/// IPv4 routes (RTM_NEWROUTE, RTM_DELROUTE of AF_INET). The cache holds every table; the state keeps
/// main and local. The kernel removes the routes of a link that goes down without RTM_DELROUTE:
/// `LinkKind` says so (`.appliedRoutesStale`) and the watcher re-dumps this kind alone.
///
/// Mirrored as a whole: the sorted list is read again from the cache when the cache changed.
final class RouteKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWROUTE), Int32(RTM_DELROUTE)]
    let family: Int32? = RtnetlinkFamily.ipv4
    let cache: LibnlCache
    /// Nil when the cache changed since the list was read.
    private var mirror: [Route]?

    init() throws {
        cache = try LibnlCache("route/route", family: RtnetlinkFamily.ipv4, what: "routes")
    }

    func rebuildMirror() { mirror = nil }

    func mirror(applied object: OpaquePointer) { mirror = nil }

    func contribute(to state: inout NetlinkState) {
        if mirror == nil {
            var routes: [Route] = []
            cache.forEach { object in
                if let route = Self.route(object) { routes.append(route) }
            }
            mirror = routes.sorted(by: Self.canonicalOrder)
        }
        state.routes = mirror ?? []
    }

    /// An IPv4 route of table main or local; nil for anything else.
    static func route(_ object: OpaquePointer) -> Route? {
        guard Int32(rtnl_route_get_family(object)) == RtnetlinkFamily.ipv4 else { return nil }
        let table = rtnl_route_get_table(object)
        guard table == Route.mainTable || table == Route.localTable else { return nil }
        let prefixLength: UInt32
        let destination: String
        if let dst = rtnl_route_get_dst(object) {
            prefixLength = nl_addr_get_prefixlen(dst)
            guard let text = LibnlObjects.addressText(dst, family: RtnetlinkFamily.ipv4) else { return nil }
            destination = text
        } else {
            prefixLength = 0
            destination = "0.0.0.0"
        }
        var gateway: String?
        var outputInterface: Int32?
        if rtnl_route_get_nnexthops(object) > 0, let nexthop = rtnl_route_nexthop_n(object, 0) {
            if let via = rtnl_route_nh_get_gateway(nexthop) {
                gateway = LibnlObjects.addressText(via)
            }
            let ifindex = rtnl_route_nh_get_ifindex(nexthop)
            outputInterface = ifindex > 0 ? ifindex : nil
        }
        return Route(
            destination: "\(destination)/\(prefixLength)",
            gateway: gateway,
            outputInterface: outputInterface,
            metric: rtnl_route_get_priority(object),
            type: LibnlObjects.routeType(rtnl_route_get_type(object)),
            table: table
        )
    }

    /// By table, destination, metric, type, output interface, gateway.
    static func canonicalOrder(_ a: Route, _ b: Route) -> Bool {
        (a.table, a.destination, a.metric, a.type, a.outputInterface ?? 0, a.gateway ?? "")
            < (b.table, b.destination, b.metric, b.type, b.outputInterface ?? 0, b.gateway ?? "")
    }
}
