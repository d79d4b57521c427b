import CNetlink
import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

@Suite("Netlink event application")
struct NetlinkEventApplicationTests {
    @Test("Truncated messages are skipped as malformed; foreign families are ignored")
    func malformedMessagesAreSkipped() throws {
        let caches = try RtnetlinkCaches()
        let empty = caches.state()

        // RTM_NEWLINK without its ifinfomsg.
        let truncatedLink = try #require(nlmsg_alloc_simple(Int32(RTM_NEWLINK), 0))
        defer { nlmsg_free(truncatedLink) }
        nlmsg_set_proto(truncatedLink, NETLINK_ROUTE)
        guard case .malformed = caches.apply(truncatedLink) else {
            Issue.record("a link message without payload was not reported malformed")
            return
        }

        // RTM_NEWADDR whose ifaddrmsg is cut after the family byte.
        let truncatedAddress = try #require(nlmsg_alloc_simple(Int32(RTM_NEWADDR), 0))
        defer { nlmsg_free(truncatedAddress) }
        nlmsg_set_proto(truncatedAddress, NETLINK_ROUTE)
        var family = UInt8(2)
        #expect(nlmsg_append(truncatedAddress, &family, 1, 0) == 0)
        guard case .malformed = caches.apply(truncatedAddress) else {
            Issue.record("a truncated address message was not reported malformed")
            return
        }

        // An IPv6 route: not part of the state.
        let ipv6Route = try #require(nlmsg_alloc_simple(Int32(RTM_NEWROUTE), 0))
        defer { nlmsg_free(ipv6Route) }
        nlmsg_set_proto(ipv6Route, NETLINK_ROUTE)
        var header = rtmsg()
        header.rtm_family = 10
        header.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        #expect(nlmsg_append(ipv6Route, &header, MemoryLayout<rtmsg>.size, 4) == 0)
        guard case .ignored = caches.apply(ipv6Route) else {
            Issue.record("an IPv6 route message was not ignored")
            return
        }
        #expect(caches.state() == empty)
    }
}
