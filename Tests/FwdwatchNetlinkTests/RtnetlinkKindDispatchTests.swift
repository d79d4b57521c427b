import CNetlink
import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

/// Hand-built notifications through `RtnetlinkCaches.apply`: each reaches the kind its type and family
/// name, with that kind's outcome, and the state shows each kind's part. No socket, no root.
@Suite("Rtnetlink kind dispatch")
struct RtnetlinkKindDispatchTests {
    /// An RTM_*LINK message: ifinfomsg (family, index, flags) and IFLA_IFNAME.
    private func linkMessage(_ type: Int32, family: UInt8, index: Int32, name: String, up: Bool) throws
        -> OpaquePointer
    {
        let message = try #require(nlmsg_alloc_simple(type, 0))
        nlmsg_set_proto(message, NETLINK_ROUTE)
        var header = ifinfomsg()
        header.ifi_family = family
        header.ifi_index = index
        header.ifi_flags = up ? 0x1 : 0
        #expect(nlmsg_append(message, &header, MemoryLayout<ifinfomsg>.size, 4) == 0)
        #expect(nla_put_string(message, Int32(IFLA_IFNAME), name) == 0)
        return message
    }

    /// An RTM_NEWNETCONF message for AF_INET: netconfmsg, NETCONFA_IFINDEX, NETCONFA_FORWARDING.
    private func netconfMessage(index: Int32, forwarding: Int32) throws -> OpaquePointer {
        let message = try #require(nlmsg_alloc_simple(Int32(RTM_NEWNETCONF), 0))
        nlmsg_set_proto(message, NETLINK_ROUTE)
        var family = UInt8(2)
        #expect(nlmsg_append(message, &family, 1, 4) == 0)
        var ifindex = index
        #expect(nla_put(message, Int32(NETCONFA_IFINDEX), 4, &ifindex) == 0)
        var value = forwarding
        #expect(nla_put(message, Int32(NETCONFA_FORWARDING), 4, &value) == 0)
        return message
    }

    private func outcomeName(_ outcome: RtnetlinkEventOutcome) -> String {
        switch outcome {
        case .ignored: "ignored"
        case .applied: "applied"
        case .appliedRoutesStale: "appliedRoutesStale"
        case .appliedQuietly: "appliedQuietly"
        case .malformed(let code): "malformed(\(code))"
        }
    }

    private func apply(_ caches: RtnetlinkCaches, _ message: OpaquePointer) -> String {
        defer { nlmsg_free(message) }
        return outcomeName(caches.apply(message))
    }

    @Test("Links by family, a link going down makes routes stale, netconf is named by its link")
    func dispatchByTypeAndFamily() throws {
        let caches = try RtnetlinkCaches()

        #expect(apply(caches, try linkMessage(Int32(RTM_NEWLINK), family: 0, index: 5, name: "veth5", up: true))
            == "applied")
        #expect(caches.state().links.map(\.name) == ["veth5"])
        #expect(caches.state().links.first?.adminUp == true)

        // AF_INET6 link objects duplicate the AF_UNSPEC one: not applied.
        #expect(apply(caches, try linkMessage(Int32(RTM_NEWLINK), family: 10, index: 5, name: "veth5", up: false))
            == "ignored")
        #expect(caches.state().links.first?.adminUp == true)

        #expect(apply(caches, try netconfMessage(index: 5, forwarding: 0)) == "applied")
        #expect(apply(caches, try netconfMessage(index: NetconfIndex.all, forwarding: 1)) == "applied")
        #expect(
            caches.state().ipv4Netconf
                == ["veth5": NetconfValues(forwarding: 0), "all": NetconfValues(forwarding: 1)])

        // An AF_BRIDGE delete is a port leaving its bridge: the link stays, routes are not stale.
        #expect(apply(caches, try linkMessage(Int32(RTM_DELLINK), family: 7, index: 5, name: "veth5", up: true))
            == "applied")
        #expect(caches.state().links.map(\.name) == ["veth5"])

        // Up -> down: the kernel drops the link's routes silently.
        #expect(apply(caches, try linkMessage(Int32(RTM_NEWLINK), family: 0, index: 5, name: "veth5", up: false))
            == "appliedRoutesStale")
        #expect(caches.state().links.first?.adminUp == false)
        // Down -> down: nothing more went stale.
        #expect(apply(caches, try linkMessage(Int32(RTM_NEWLINK), family: 0, index: 5, name: "veth5", up: false))
            == "applied")

        // Removal: stale routes, the link and its netconf name leave the state.
        #expect(apply(caches, try linkMessage(Int32(RTM_DELLINK), family: 0, index: 5, name: "veth5", up: false))
            == "appliedRoutesStale")
        #expect(caches.state().links.isEmpty)
        #expect(caches.state().ipv4Netconf == ["all": NetconfValues(forwarding: 1)])
    }
}
