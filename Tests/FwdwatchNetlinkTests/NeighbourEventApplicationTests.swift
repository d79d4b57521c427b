import CNetlink
import Testing

@testable import FwdwatchNetlink

@Suite("Neighbour event application")
struct NeighbourEventApplicationTests {
    /// An RTM_NEWNEIGH message with `payload` after the netlink header.
    private func message(_ payload: [UInt8]) throws -> OpaquePointer {
        let message = try #require(nlmsg_alloc_simple(Int32(RTM_NEWNEIGH), 0))
        nlmsg_set_proto(message, NETLINK_ROUTE)
        if !payload.isEmpty {
            var bytes = payload
            #expect(nlmsg_append(message, &bytes, bytes.count, 4) == 0)
        }
        return message
    }

    @Test("A truncated neighbour message is skipped as malformed; an IPv6 neighbour is ignored")
    func malformedAndForeign() throws {
        let caches = try RtnetlinkCaches()
        let empty = caches.state()

        let truncated = try message([])
        defer { nlmsg_free(truncated) }
        guard case .malformed = caches.apply(truncated) else {
            Issue.record("a neighbour message without its ndmsg was not reported malformed")
            return
        }

        // struct ndmsg: family AF_INET6, ifindex 1, state NUD_REACHABLE; no NDA_DST.
        let ipv6 = try message([10, 0, 0, 0, 1, 0, 0, 0, 0x02, 0, 0, 0])
        defer { nlmsg_free(ipv6) }
        guard case .ignored = caches.apply(ipv6) else {
            Issue.record("an IPv6 neighbour message was not ignored")
            return
        }

        // An IPv4 ndmsg without its NDA_DST attribute: never a crash, never an entry without an address.
        let addressless = try message([2, 0, 0, 0, 1, 0, 0, 0, 0x02, 0, 0, 0])
        defer { nlmsg_free(addressless) }
        _ = caches.apply(addressless)
        #expect(caches.state() == empty)
    }
}
