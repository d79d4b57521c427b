import CNetlink
import Foundation
import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

/// The bytes of the requests and the decoding of the replies, without a kernel.
@Suite("Kernel route lookup messages")
struct KernelRouteLookupMessageTests {
    @Test("A request is byte for byte what `ip route get 172.17.0.2 from 192.0.2.1 iif eth0` sends")
    func requestMatchesIproute2() throws {
        // Recorded with `strace -e trace=sendmsg -e write=all -xx ip route get 172.17.0.2 from 192.0.2.1 iif eth0`
        // (iproute2 6.1) in a namespace where eth0 has ifindex 2; sequence 0x6b14c709.
        let recorded: [UInt8] = [
            0x34, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x01, 0x00, 0x09, 0xc7, 0x14, 0x6b, 0x00, 0x00, 0x00, 0x00,
            0x02, 0x20, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00,
            0xac, 0x11, 0x00, 0x02, 0x08, 0x00, 0x02, 0x00, 0xc0, 0x00, 0x02, 0x01, 0x08, 0x00, 0x03, 0x00,
            0x02, 0x00, 0x00, 0x00,
        ]
        let request = RouteLookupRequest(
            tag: 0, inputInterfaceIndex: 2, source: try #require(IPv4Address("192.0.2.1")).value,
            destination: try #require(IPv4Address("172.17.0.2")).value)
        var bytes: [UInt8] = []
        RouteLookupMessages.append(request, sequence: 0x6b14_c709, to: &bytes)
        #expect(bytes == recorded)
        #expect(bytes.count == RouteLookupMessages.requestLength)
    }

    @Test("Replies decode: a route with its output interface and gateway, an error, and an ACK that is skipped")
    func repliesDecode() {
        var datagram: [UInt8] = []
        func u16(_ value: UInt16) { withUnsafeBytes(of: value) { datagram.append(contentsOf: $0) } }
        func u32(_ value: UInt32) { withUnsafeBytes(of: value) { datagram.append(contentsOf: $0) } }
        // RTM_NEWROUTE, seq 7: unicast, RTA_TABLE 254, RTA_OIF 5, RTA_GATEWAY 192.0.2.1.
        u32(16 + 12 + 3 * 8); u16(UInt16(RTM_NEWROUTE)); u16(0); u32(7); u32(1234)
        datagram += [UInt8(AF_INET), 32, 32, 0, 254, 0, 0, UInt8(RTN_UNICAST)]; u32(0x200)
        u16(8); u16(UInt16(RTA_TABLE.rawValue)); u32(254)
        u16(8); u16(UInt16(RTA_OIF.rawValue)); u32(5)
        u16(8); u16(UInt16(RTA_GATEWAY.rawValue)); datagram += [192, 0, 2, 1]
        // NLMSG_ERROR, seq 8: -EHOSTUNREACH, with the request echoed (truncated here to its header).
        u32(16 + 4 + 16); u16(UInt16(NLMSG_ERROR)); u16(0); u32(8); u32(1234)
        u32(UInt32(bitPattern: -EHOSTUNREACH)); datagram += [UInt8](repeating: 0, count: 16)
        // NLMSG_ERROR, seq 9, error 0: an acknowledgement, not an answer.
        u32(16 + 4 + 16); u16(UInt16(NLMSG_ERROR)); u16(0); u32(9); u32(1234)
        u32(0); datagram += [UInt8](repeating: 0, count: 16)

        let replies = datagram.withUnsafeBytes { RouteLookupMessages.replies(in: $0) }
        #expect(replies.map(\.sequence) == [7, 8])
        #expect(replies.first?.reply == .route(type: UInt8(RTN_UNICAST), outputInterfaceIndex: 5, gateway: "192.0.2.1"))
        #expect(replies.last?.reply == .error(EHOSTUNREACH))

        // A datagram cut inside a message yields what came before the cut.
        let truncated = datagram.withUnsafeBytes { RouteLookupMessages.replies(in: UnsafeRawBufferPointer(rebasing: $0[..<60])) }
        #expect(truncated.map(\.sequence) == [7])
    }

    @Test("Replies become answers: type names, errno names, no interface for local routes")
    func answers() {
        let names: [UInt32: String] = [1: "lo", 5: "docker0"]
        let name = { (index: UInt32) in names[index] ?? "?" }
        #expect(
            RouteLookupReply.route(type: UInt8(RTN_UNICAST), outputInterfaceIndex: 5, gateway: nil).answer(interfaceName: name)
                == .route(type: "unicast", outputInterface: "docker0", gateway: nil))
        #expect(
            RouteLookupReply.route(type: UInt8(RTN_LOCAL), outputInterfaceIndex: 1, gateway: nil).answer(interfaceName: name)
                == .route(type: "local", outputInterface: nil, gateway: nil))
        #expect(
            RouteLookupReply.route(type: UInt8(RTN_BROADCAST), outputInterfaceIndex: 1, gateway: nil).answer(interfaceName: name)
                == .route(type: "broadcast", outputInterface: nil, gateway: nil))
        #expect(RouteLookupReply.error(EHOSTUNREACH).answer(interfaceName: name) == .error(errno: "EHOSTUNREACH", code: 113))
        #expect(RouteLookupReply.error(EINVAL).answer(interfaceName: name) == .error(errno: "EINVAL", code: 22))
        #expect(RouteLookupReply.error(ENETUNREACH).answer(interfaceName: name) == .error(errno: "ENETUNREACH", code: 101))
        #expect(RouteLookupReply.error(EACCES).answer(interfaceName: name) == .error(errno: "EACCES", code: 13))
        #expect(RouteLookupReply.error(4242).answer(interfaceName: name) == .error(errno: "E4242", code: 4242))
        #expect(RouteLookupMessages.routeTypeName(UInt8(RTN_BLACKHOLE)) == "blackhole")
        #expect(RouteLookupMessages.routeTypeName(UInt8(RTN_UNREACHABLE)) == "unreachable")
        #expect(RouteLookupMessages.routeTypeName(UInt8(RTN_PROHIBIT)) == "prohibit")
    }
}
