import CNetlink
import FwdwatchCore

/// Interfaces: the AF_UNSPEC link objects, one per ifindex (RTM_NEWLINK, RTM_DELLINK). AF_INET6 link
/// objects duplicate them and are ignored; AF_BRIDGE ones are `BridgePortKind`'s.
///
/// Mirrored per object: links change with every interface.
final class LinkKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWLINK), Int32(RTM_DELLINK)]
    let family: Int32? = RtnetlinkFamily.unspecified
    let cache: LibnlCache
    private var mirror: [Int32: Link] = [:] {
        didSet { sorted = nil }
    }
    /// `mirror` in ifindex order, kept until it changes: during a burst of events that leave the links
    /// alone (netconf, addresses), each published state does not sort thousands of links again.
    private var sorted: [Link]?

    init() throws {
        cache = try LibnlCache("route/link", family: RtnetlinkFamily.unspecified, what: "links")
    }

    func rebuildMirror() {
        mirror = [:]
        cache.forEach { object in
            if let link = Self.link(object) { mirror[link.index] = link }
        }
    }

    /// The removal of a link, or a link that was up and is now administratively down, makes its IPv4
    /// routes stale: the kernel drops them without RTM_DELROUTE.
    func outcome(ofApplying object: OpaquePointer) -> RtnetlinkEventOutcome {
        if nl_object_get_msgtype(object) == Int32(RTM_DELLINK) { return .appliedRoutesStale }
        let wasUp = cache.withCached(matching: object) { old in rtnl_link_get_flags(old) & InterfaceFlags.up != 0 }
        let isUp = rtnl_link_get_flags(object) & InterfaceFlags.up != 0
        return wasUp == true && !isUp ? .appliedRoutesStale : .applied
    }

    func mirror(applied object: OpaquePointer) {
        let index = rtnl_link_get_ifindex(object)
        if nl_object_get_msgtype(object) == Int32(RTM_DELLINK) {
            mirror[index] = nil
        } else if let merged = cache.withCached(matching: object, Self.link) {
            mirror[index] = merged
        }
    }

    /// The links in ifindex order, without bridge port states (`BridgePortKind` adds them).
    func contribute(to state: inout NetlinkState) {
        if sorted == nil { sorted = mirror.values.sorted { $0.index < $1.index } }
        state.links = sorted ?? []
    }

    /// A link from an AF_UNSPEC `rtnl_link`; nil without an ifindex or a name.
    static func link(_ object: OpaquePointer) -> Link? {
        let index = rtnl_link_get_ifindex(object)
        guard index > 0, let namePointer = rtnl_link_get_name(object) else { return nil }
        let flags = rtnl_link_get_flags(object)
        let master = rtnl_link_get_master(object)
        return Link(
            index: index,
            name: String(cString: namePointer),
            kind: rtnl_link_get_type(object).map { String(cString: $0) },
            adminUp: flags & InterfaceFlags.up != 0,
            operState: operState(rtnl_link_get_operstate(object)),
            carrier: rtnl_link_get_carrier(object) != 0,
            loopback: flags & InterfaceFlags.loopback != 0,
            master: master > 0 ? master : nil,
            mtu: rtnl_link_get_mtu(object)
        )
    }

    /// "up", "down", "lowerlayerdown", "unknown", ... (IF_OPER_*).
    static func operState(_ state: UInt8) -> String {
        var buffer = [CChar](repeating: 0, count: 32)
        let text = buffer.withUnsafeMutableBufferPointer { pointer -> String in
            guard let result = rtnl_link_operstate2str(state, pointer.baseAddress, pointer.count) else {
                return "unknown"
            }
            return String(cString: result)
        }
        return text.isEmpty ? "unknown" : text.lowercased()
    }
}
