import CNetlink
import FwdwatchCore

/// Bridge ports' STP states: the AF_BRIDGE link objects (RTM_NEWLINK, RTM_DELLINK of family 7). Kept
/// in a cache apart from `LinkKind`'s because libnl lets an AF_BRIDGE object replace a bridge's
/// AF_UNSPEC object in a shared cache. An AF_BRIDGE delete is a port leaving its bridge, not an
/// interface removal: it never makes routes stale.
///
/// Mirrored per object.
final class BridgePortKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWLINK), Int32(RTM_DELLINK)]
    let family: Int32? = RtnetlinkFamily.bridge
    let cache: LibnlCache
    private var mirror: [Int32: BridgePortState] = [:] {
        didSet { contributed = nil }
    }
    /// The links last completed, and what they were completed from (the same array instance while the
    /// links are unchanged, so the comparison is one pointer check).
    private var contributed: (from: [Link], to: [Link])?

    init() throws {
        cache = try LibnlCache("route/link", family: RtnetlinkFamily.bridge, what: "bridge ports")
    }

    func rebuildMirror() {
        mirror = [:]
        cache.forEach { object in
            if let port = Self.bridgePort(object) { mirror[port.index] = port.state }
        }
    }

    func mirror(applied object: OpaquePointer) {
        let index = rtnl_link_get_ifindex(object)
        if nl_object_get_msgtype(object) == Int32(RTM_DELLINK) {
            mirror[index] = nil
        } else if let merged = cache.withCached(matching: object, { Self.bridgePort($0)?.state }) {
            mirror[index] = merged
        }
    }

    /// Completes the links of `state` (already contributed) that have a master with their port state.
    func contribute(to state: inout NetlinkState) {
        if let contributed, contributed.from == state.links {
            state.links = contributed.to
            return
        }
        let from = state.links
        for position in state.links.indices where state.links[position].master != nil {
            state.links[position].bridgePortState = mirror[state.links[position].index]
        }
        contributed = (from, state.links)
    }

    /// The STP state of a bridge port, from its AF_BRIDGE `rtnl_link` (IFLA_PROTINFO); nil for the
    /// bridge itself and for anything that is not a port.
    static func bridgePort(_ object: OpaquePointer) -> (index: Int32, state: BridgePortState)? {
        let index = rtnl_link_get_ifindex(object)
        let master = rtnl_link_get_master(object)
        guard index > 0, master > 0, master != index else { return nil }
        let state: BridgePortState
        switch rtnl_link_bridge_get_port_state(object) {
        case 0: state = .disabled  // BR_STATE_DISABLED
        case 1: state = .listening
        case 2: state = .learning
        case 3: state = .forwarding
        case 4: state = .blocking
        default: return nil
        }
        return (index, state)
    }
}
