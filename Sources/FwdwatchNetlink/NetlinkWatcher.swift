import CNetlink
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Watches rtnetlink for the daemon: a dedicated thread keeps libnl caches of links, bridge ports,
/// addresses, IPv4 routes, netconf and IPv4 neighbours up to date and publishes coalesced states.
public final class NetlinkWatcher: Sendable {
    private let configuration: WatcherConfiguration
    private let control = WatcherControl()

    /// - Parameters:
    ///   - receiveBufferBytes: the event socket's receive buffer to ask for (SO_RCVBUFFORCE, or
    ///     SO_RCVBUF capped by net.core.rmem_max without CAP_NET_ADMIN). See `receiveBufferSize`.
    ///   - coalescingWindow: the minimum time between two `.changed` updates. A lone change is
    ///     published at once; a storm yields at most one update per window.
    ///   - namespacePath: a network namespace to watch (e.g. `/run/netns/NAME`); nil for the
    ///     namespace of the calling process.
    public init(
        receiveBufferBytes: Int = 4 << 20,
        coalescingWindow: Duration = .milliseconds(20),
        namespacePath: String? = nil
    ) {
        configuration = WatcherConfiguration(
            receiveBufferBytes: receiveBufferBytes,
            coalescingWindow: coalescingWindow,
            namespacePath: namespacePath
        )
    }

    deinit {
        control.requestStop()
    }

    /// Starts the watcher thread: it subscribes to RTNLGRP_LINK, IPV4_IFADDR, IPV6_IFADDR,
    /// IPV4_ROUTE, IPV4_NETCONF, IPV6_NETCONF and NEIGH first, then dumps, yields `.initial`, then applies
    /// live events. Throws when the sockets cannot be opened. Call once.
    public func updates() throws -> AsyncStream<NetlinkUpdate> {
        let wakeup = try control.start()
        let (stream, continuation) = AsyncStream.makeStream(
            of: NetlinkUpdate.self, bufferingPolicy: .bufferingNewest(1))
        let publisher = UpdatePublisher(continuation)
        let startup = StartupSignal()
        let configuration = self.configuration
        let control = self.control
        continuation.onTermination = { _ in control.requestStop() }
        do {
            let thread = try DedicatedThread.start(name: "fwdwatch-netlink") {
                WatcherLoop.run(
                    configuration: configuration, control: control, wakeup: wakeup,
                    publisher: publisher, startup: startup)
            }
            pthread_detach(thread)
        } catch {
            control.requestStop()
            throw error
        }
        try startup.wait()
        return stream
    }

    /// Stops the thread promptly and finishes the stream. Idempotent.
    public func stop() {
        control.requestStop()
    }

    /// The event socket's receive buffer as the kernel reports it (twice the size granted, for its
    /// bookkeeping); nil before `updates()`.
    public var receiveBufferSize: Int? {
        control.receiveBufferSize
    }

    /// Netlink messages libnl could not parse; they were skipped, never fatal.
    public var skippedMessages: Int {
        control.skippedMessages
    }

    /// Test hook: stops reading the event socket until `resumeReadingForTesting()`, so the kernel's
    /// queue overruns and the resync path runs.
    public func suspendReadingForTesting() {
        control.setReadingSuspended(true)
    }

    /// Test hook: resumes reading after `suspendReadingForTesting()`.
    public func resumeReadingForTesting() {
        control.setReadingSuspended(false)
    }
}

/// The watcher's settings, handed to its thread.
struct WatcherConfiguration: Sendable {
    var receiveBufferBytes: Int
    var coalescingWindow: Duration
    var namespacePath: String?

    /// The groups joined before the first dump.
    static let groups: [Int32] = [
        Int32(RTNLGRP_LINK.rawValue), Int32(RTNLGRP_IPV4_IFADDR.rawValue), Int32(RTNLGRP_IPV6_IFADDR.rawValue),
        Int32(RTNLGRP_IPV4_ROUTE.rawValue), Int32(RTNLGRP_IPV4_NETCONF.rawValue),
        Int32(RTNLGRP_IPV6_NETCONF.rawValue), Int32(RTNLGRP_NEIGH.rawValue),
    ]
}

/// What the public object and the thread share: requests (stop, suspend) and the thread's report.
/// The eventfd wakes the thread's poll() for every request.
final class WatcherControl: Sendable {
    private struct State {
        var started = false
        var stopRequested = false
        var readingSuspended = false
        var receiveBufferSize: Int?
        var skippedMessages = 0
        var wakeup: Int32 = -1
    }

    private let state = Mutex(State())

    deinit {
        let wakeup = state.withLock { $0.wakeup }
        if wakeup >= 0 { close(wakeup) }
    }

    /// Marks the watcher started and returns the eventfd the thread polls.
    func start() throws -> Int32 {
        try state.withLock { state in
            guard !state.stopRequested else {
                throw NetlinkError(operation: "starting the watcher", reason: "it was stopped")
            }
            guard !state.started else {
                throw NetlinkError(operation: "starting the watcher", reason: "updates() was already called")
            }
            let wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
            guard wakeup >= 0 else {
                throw NetlinkError(operation: "creating the stop eventfd", reason: String(cString: strerror(errno)))
            }
            state.started = true
            state.wakeup = wakeup
            return wakeup
        }
    }

    func requestStop() {
        let wakeup = state.withLock { state -> Int32 in
            state.stopRequested = true
            return state.wakeup
        }
        signal(wakeup)
    }

    func setReadingSuspended(_ suspended: Bool) {
        let wakeup = state.withLock { state -> Int32 in
            state.readingSuspended = suspended
            return state.wakeup
        }
        signal(wakeup)
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }
    var readingSuspended: Bool { state.withLock { $0.readingSuspended } }

    var receiveBufferSize: Int? {
        get { state.withLock { $0.receiveBufferSize } }
        set { state.withLock { $0.receiveBufferSize = newValue } }
    }

    var skippedMessages: Int { state.withLock { $0.skippedMessages } }

    func countSkippedMessage() {
        state.withLock { $0.skippedMessages += 1 }
    }

    private func signal(_ wakeup: Int32) {
        guard wakeup >= 0 else { return }
        var one: UInt64 = 1
        _ = write(wakeup, &one, MemoryLayout<UInt64>.size)
    }
}

/// Lets `updates()` wait until the thread has opened its sockets (or failed to).
final class StartupSignal: Sendable {
    private let outcome = Mutex<NetlinkError?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)

    func succeeded() { semaphore.signal() }

    func failed(_ error: NetlinkError) {
        outcome.withLock { $0 = error }
        semaphore.signal()
    }

    func wait() throws {
        semaphore.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }
}

/// Yields into a newest-only stream without losing what matters: when a newer state displaces an
/// unread `.initial` or `.resynced`, the newer state is re-yielded under that case (and displaced
/// `.changed` event counts add up). A consumer may then see one state twice, never miss a resync.
final class UpdatePublisher: Sendable {
    private let continuation: AsyncStream<NetlinkUpdate>.Continuation

    init(_ continuation: AsyncStream<NetlinkUpdate>.Continuation) {
        self.continuation = continuation
    }

    func publish(_ update: NetlinkUpdate) {
        guard case .dropped(let displaced) = continuation.yield(update),
            let merged = Self.merge(displaced: displaced, by: update)
        else { return }
        _ = continuation.yield(merged)
    }

    func finish() {
        continuation.finish()
    }

    static func merge(displaced: NetlinkUpdate, by newer: NetlinkUpdate) -> NetlinkUpdate? {
        switch (displaced, newer) {
        case (.initial, .changed(let state, _)), (.initial, .resynced(let state, _)):
            return .initial(state)
        case (.resynced(_, let reason), .changed(let state, _)):
            return .resynced(state, reason: reason)
        case (.changed(_, let earlier), .changed(let state, let later)):
            return .changed(state, events: earlier + later)
        default:
            return nil
        }
    }
}
