import CNetlink

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An owned libnl socket connected to NETLINK_ROUTE. Closed and freed on deinit.
final class RtnetlinkSocket {
    let handle: OpaquePointer

    /// A blocking socket for request/response dumps.
    init(purpose: String) throws {
        guard let handle = nl_socket_alloc() else {
            throw NetlinkError(operation: "allocating a socket for \(purpose)", code: -NLE_NOMEM)
        }
        let result = nl_connect(handle, NETLINK_ROUTE)
        guard result >= 0 else {
            nl_socket_free(handle)
            throw NetlinkError(operation: "opening a socket for \(purpose)", code: result)
        }
        self.handle = handle
    }

    deinit {
        nl_close(handle)
        nl_socket_free(handle)
    }

    var fileDescriptor: Int32 { nl_socket_get_fd(handle) }

    /// Joins the multicast groups (one by one: the variadic libnl call is not available to Swift),
    /// accepts unsolicited messages and makes receiving non-blocking.
    func subscribe(to groups: [Int32]) throws {
        nl_socket_disable_seq_check(handle)
        for group in groups {
            let result = nl_socket_add_membership(handle, group)
            guard result >= 0 else { throw NetlinkError(operation: "joining netlink group \(group)", code: result) }
        }
        let result = nl_socket_set_nonblocking(handle)
        guard result >= 0 else { throw NetlinkError(operation: "making the event socket non-blocking", code: result) }
    }

    /// Asks for a receive buffer of `bytes`: SO_RCVBUFFORCE (CAP_NET_ADMIN) first, plain SO_RCVBUF
    /// (capped by net.core.rmem_max) otherwise. Returns the size the kernel granted (it doubles the
    /// request for bookkeeping).
    @discardableResult
    func setReceiveBuffer(bytes: Int) -> Int {
        var requested = Int32(clamping: bytes)
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUFFORCE, &requested, size) != 0 {
            _ = setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &requested, size)
        }
        return receiveBufferSize
    }

    /// The receive buffer size the kernel reports (SO_RCVBUF).
    var receiveBufferSize: Int {
        var granted: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &granted, &length) == 0 else { return 0 }
        return Int(granted)
    }

    /// Discards everything queued on the socket (after an overrun the queue is stale anyway).
    /// Returns the number of datagrams discarded.
    @discardableResult
    func drain() -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var discarded = 0
        // Bounded: the kernel keeps queueing while we read, but not faster than we can discard.
        for _ in 0..<1_000_000 {
            let received = buffer.withUnsafeMutableBytes { recv(fileDescriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if received >= 0 {
                discarded += 1
                continue
            }
            // ENOBUFS is reported once per overrun; keep reading until the queue is empty.
            if errno == EINTR || errno == ENOBUFS { continue }
            return discarded
        }
        return discarded
    }
}

extension RtnetlinkSocket {
    /// Routes every valid message received on this socket to `handler(message, context)`.
    func onMessage(
        _ handler: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32,
        context: UnsafeMutableRawPointer
    ) {
        _ = nl_socket_modify_cb(handle, NL_CB_VALID, NL_CB_CUSTOM, handler, context)
    }

    /// Receives and handles one datagram without blocking. Returns the number of messages handled,
    /// 0 or -NLE_AGAIN when nothing is queued, or a negative libnl error (-NLE_NOMEM for an overrun).
    func receiveOnce() -> Int32 {
        guard let callbacks = nl_socket_get_cb(handle) else { return -NLE_NOMEM }
        defer { nl_cb_put(callbacks) }
        return nl_recvmsgs_report(handle, callbacks)
    }
}
