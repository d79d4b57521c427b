import CNetlink
import Synchronization

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
/// Only the fact of a change is used; the messages are not decoded beyond their type. A burst of
/// commits (a container start writes several) is reported once, after `quietPeriod` without another.
public final class NftablesMonitor: Sendable {
    private let quietPeriod: Duration
    private let stopSignal = StopSignal()

    public init(quietPeriod: Duration = .milliseconds(30)) {
        self.quietPeriod = quietPeriod
    }

    deinit { stop() }

    /// Subscribes and starts the monitor thread. Each element is one (coalesced) change. Throws when
    /// the subscription is refused (no CAP_NET_ADMIN, nf_tables not available).
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
        let wakeup = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard wakeup >= 0 else {
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw NetlinkError(operation: "creating the nftables monitor's eventfd", reason: reason)
        }
        stopSignal.set(wakeup)
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let stopSignal = self.stopSignal
        continuation.onTermination = { _ in stopSignal.fire() }
        let quiet = Int32(quietPeriod.components.seconds * 1000 + quietPeriod.components.attoseconds / 1_000_000_000_000_000)
        do {
            let thread = try DedicatedThread.start(name: "fwdwatch-nft") {
                Self.loop(socket: socketDescriptor, wakeup: wakeup, quietMilliseconds: max(1, quiet)) {
                    continuation.yield()
                }
                close(socketDescriptor)
                stopSignal.close()
                continuation.finish()
            }
            pthread_detach(thread)
        } catch {
            close(socketDescriptor)
            stopSignal.close()
            throw error
        }
        return stream
    }

    /// Stops the thread and finishes the stream. Idempotent.
    public func stop() { stopSignal.fire() }

    /// The eventfd that wakes the thread to stop; closed by the thread when it ends, so a late `stop()`
    /// never writes to a reused descriptor.
    private final class StopSignal: Sendable {
        private let descriptor = Mutex<Int32>(-1)

        func set(_ wakeup: Int32) { descriptor.withLock { $0 = wakeup } }

        func fire() {
            descriptor.withLock { wakeup in
                guard wakeup >= 0 else { return }
                var one: UInt64 = 1
                _ = write(wakeup, &one, MemoryLayout<UInt64>.size)
            }
        }

        func close() {
            descriptor.withLock { wakeup in
                if wakeup >= 0 { _ = Glibc.close(wakeup) }
                wakeup = -1
            }
        }
    }

    /// Waits for a generation change, then for quiet, then reports; until the wakeup fd fires.
    private static func loop(socket: Int32, wakeup: Int32, quietMilliseconds: Int32, report: () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pending = false
        while true {
            var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, 2, pending ? quietMilliseconds : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 { return }
            if ready == 0 {
                pending = false
                report()
                continue
            }
            let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count < 0 {
                // ENOBUFS: notifications were lost, so something changed.
                if errno == ENOBUFS { pending = true }
                if errno == EAGAIN || errno == EINTR || errno == ENOBUFS { continue }
                return
            }
            if containsNewGeneration(buffer[..<count]) { pending = true }
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
