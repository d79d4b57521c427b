import CNetlink

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tells when the nf_tables ruleset changed, so the rules are re-read at once instead of at the next
/// sweep. iptables-nft (Debian's default, what Docker writes through) and native nftables both commit
/// through nf_tables, and every committed transaction ends with one NFT_MSG_NEWGEN message on the
/// NFNLGRP_NFTABLES group. iptables-legacy emits nothing: its changes are seen by the sweep.
///
/// Only the fact of a change is used; the messages are not decoded beyond their type. Each datagram with
/// a new generation (or an overrun, which may have hidden one) is reported at once; the stream keeps only
/// the newest unread report, and the consumer debounces a burst (see the daemon's `FirewallReadScheduler`).
/// The thread's stop descriptor is `WatcherControl`'s, as for the netlink watcher.
public final class NftablesMonitor: Sendable {
    private let control = WatcherControl()

    public init() {}

    deinit { control.requestStop() }

    /// Subscribes and starts the monitor thread. Each element is one change (or several, when the consumer
    /// was busy). Throws when the subscription is refused (no CAP_NET_ADMIN, nf_tables not available).
    public func changes() throws -> AsyncStream<Void> {
        let socketDescriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_NETFILTER)
        guard socketDescriptor >= 0 else {
            throw NetlinkError(operation: "opening a netfilter netlink socket", reason: String(cString: strerror(errno)))
        }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        var group = Int32(NFNLGRP_NFTABLES.rawValue)
        guard bound == 0,
            setsockopt(socketDescriptor, 270 /* SOL_NETLINK */, NETLINK_ADD_MEMBERSHIP, &group,
                socklen_t(MemoryLayout<Int32>.size)) == 0
        else {
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw NetlinkError(operation: "subscribing to nftables change notifications", reason: reason)
        }
        let wakeup: Int32
        do {
            wakeup = try control.start()
        } catch {
            close(socketDescriptor)
            throw error
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let control = self.control
        continuation.onTermination = { _ in control.requestStop() }
        do {
            let thread = try DedicatedThread.start(name: "fwdwatch-nft") {
                Self.loop(socket: socketDescriptor, wakeup: wakeup, control: control) { continuation.yield() }
                close(socketDescriptor)
                continuation.finish()
            }
            pthread_detach(thread)
        } catch {
            close(socketDescriptor)
            control.requestStop()
            throw error
        }
        return stream
    }

    /// Stops the thread and finishes the stream. Idempotent.
    public func stop() { control.requestStop() }

    /// Reports each generation change until a stop is requested. The eventfd belongs to `control`, which
    /// closes it when the last reference goes, so a late `stop()` never writes to a reused descriptor.
    private static func loop(socket: Int32, wakeup: Int32, control: WatcherControl, report: () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !control.stopRequested {
            var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 { return }
            let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count < 0 {
                // ENOBUFS: notifications were lost, so something changed.
                if errno == ENOBUFS { report() }
                if errno == EAGAIN || errno == EINTR || errno == ENOBUFS { continue }
                return
            }
            if containsNewGeneration(buffer[..<count]) { report() }
        }
    }

    /// Whether the datagram holds an NFT_MSG_NEWGEN message (the end of a committed transaction).
    static func containsNewGeneration(_ datagram: ArraySlice<UInt8>) -> Bool {
        let headerSize = MemoryLayout<nlmsghdr>.size
        let newGeneration = UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWGEN.rawValue)
        var offset = datagram.startIndex
        while datagram.endIndex - offset >= headerSize {
            let length = Int(datagram[offset]) | Int(datagram[offset + 1]) << 8 | Int(datagram[offset + 2]) << 16
                | Int(datagram[offset + 3]) << 24
            let type = UInt16(datagram[offset + 4]) | UInt16(datagram[offset + 5]) << 8
            if type == newGeneration { return true }
            guard length >= headerSize else { return false }
            offset += (length + 3) & ~3
        }
        return false
    }
}
