import CNetlink
import FwdwatchCore

/// IPv4 and IPv6 netconf (RTM_NEWNETCONF, RTM_DELNETCONF of every family): `forwarding` and
/// `rp_filter` per interface, with `all` (ifindex -1) and `default` (-2). libnl merges the partial
/// RTM_NEWNETCONF messages (only the value that changed) into the cached objects.
///
/// Mirrored per object: netconf changes with every interface.
final class NetconfKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWNETCONF), Int32(RTM_DELNETCONF)]
    let family: Int32? = nil
    let cache: LibnlCache
    private var mirror: [Key: NetconfValues] = [:] {
        didSet { contributed = nil }
    }
    /// The values last contributed, and the links they were named from (see `BridgePortKind`).
    private var contributed: (links: [Link], ipv4: [String: NetconfValues], ipv6Forwarding: [String: Int])?

    private struct Key: Hashable {
        var family: Int32
        var index: Int32
    }

    init() throws {
        cache = try LibnlCache("route/netconf", family: nil, what: "netconf")
    }

    func rebuildMirror() {
        mirror = [:]
        cache.forEach { object in
            if let entry = Self.netconf(object) {
                mirror[Key(family: entry.family, index: entry.index)] = entry.values
            }
        }
    }

    func mirror(applied object: OpaquePointer) {
        guard let entry = Self.netconf(object) else { return }
        let key = Key(family: entry.family, index: entry.index)
        if nl_object_get_msgtype(object) == Int32(RTM_DELNETCONF) {
            mirror[key] = nil
        } else if let merged = cache.withCached(matching: object, { Self.netconf($0)?.values }) {
            mirror[key] = merged
        }
    }

    /// IPv4 values and IPv6 forwarding by interface name; the names come from the links already in
    /// `state` (an ifindex without a link is left out).
    func contribute(to state: inout NetlinkState) {
        if let contributed, contributed.links == state.links {
            state.ipv4Netconf = contributed.ipv4
            state.ipv6Forwarding = contributed.ipv6Forwarding
            return
        }
        var names: [Int32: String] = [NetconfIndex.all: "all", NetconfIndex.default: "default"]
        for link in state.links { names[link.index] = link.name }
        var ipv4Netconf: [String: NetconfValues] = [:]
        var ipv6Forwarding: [String: Int] = [:]
        for (key, values) in mirror {
            guard let name = names[key.index] else { continue }
            switch key.family {
            case RtnetlinkFamily.ipv4: ipv4Netconf[name] = values
            case RtnetlinkFamily.ipv6: if let forwarding = values.forwarding { ipv6Forwarding[name] = forwarding }
            default: break
            }
        }
        state.ipv4Netconf = ipv4Netconf
        state.ipv6Forwarding = ipv6Forwarding
        contributed = (state.links, ipv4Netconf, ipv6Forwarding)
    }

    /// One netconf object: (family, ifindex, values).
    static func netconf(_ object: OpaquePointer) -> (family: Int32, index: Int32, values: NetconfValues)? {
        var family: Int32 = 0
        var index: Int32 = 0
        guard rtnl_netconf_get_family(object, &family) == 0, rtnl_netconf_get_ifindex(object, &index) == 0
        else { return nil }
        var value: Int32 = 0
        var values = NetconfValues()
        if rtnl_netconf_get_forwarding(object, &value) == 0 { values.forwarding = Int(value) }
        if rtnl_netconf_get_rp_filter(object, &value) == 0 { values.rpFilter = Int(value) }
        return (family, index, values)
    }
}
