import CNetlink

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The watcher thread's work: every libnl call of a `NetlinkWatcher` happens here, on one thread.
///
/// It polls the event socket and the eventfd; applies each message to the caches; publishes a state
/// when something changed and the coalescing window allows; recovers from overruns and socket errors
/// by draining (or reopening) and re-dumping everything.
final class WatcherLoop {
    private let configuration: WatcherConfiguration
    private let control: WatcherControl
    private let wakeup: Int32
    private let publisher: UpdatePublisher
    private let caches: RtnetlinkCaches
    /// Multicast events arrive here.
    private var events: RtnetlinkSocket
    /// Dumps run here, so a dump never mixes with queued events.
    private var dumps: RtnetlinkSocket

    /// Messages applied since the last published update.
    private var pendingEvents = 0
    /// Caches changed since the last published state.
    private var changed = false
    /// A link went down or away: its IPv4 routes vanished without RTM_DELROUTE.
    private var routesStale = false
    private var lastPublication: ContinuousClock.Instant?
    private var lastPublished: NetlinkState?
    /// Consecutive recoveries without a successful publication in between.
    private static let recoveryAttempts = 3

    private init(
        configuration: WatcherConfiguration, control: WatcherControl, wakeup: Int32, publisher: UpdatePublisher
    ) throws {
        self.configuration = configuration
        self.control = control
        self.wakeup = wakeup
        self.publisher = publisher
        caches = try RtnetlinkCaches()
        dumps = try RtnetlinkSocket(purpose: "dumping")
        events = try Self.openEventSocket(configuration: configuration)
        control.receiveBufferSize = events.receiveBufferSize
    }

    /// The thread's body: opens the sockets (reporting the outcome to `startup`), dumps, then loops
    /// until stopped or until an error cannot be recovered. Always finishes the stream.
    static func run(
        configuration: WatcherConfiguration, control: WatcherControl, wakeup: Int32,
        publisher: UpdatePublisher, startup: StartupSignal
    ) {
        defer { publisher.finish() }
        let loop: WatcherLoop
        do {
            if let path = configuration.namespacePath {
                try enterNetworkNamespace(path)
            }
            loop = try WatcherLoop(
                configuration: configuration, control: control, wakeup: wakeup, publisher: publisher)
        } catch {
            startup.failed(error as? NetlinkError ?? NetlinkError(operation: "starting", reason: "\(error)"))
            return
        }
        startup.succeeded()
        loop.run()
    }

    /// A socket subscribed to the watched groups, with the large receive buffer. Subscribing comes
    /// before any dump, so no change falls between the dump and the first event.
    private static func openEventSocket(configuration: WatcherConfiguration) throws -> RtnetlinkSocket {
        let socket = try RtnetlinkSocket(purpose: "events")
        socket.setReceiveBuffer(bytes: configuration.receiveBufferBytes)
        try socket.subscribe(to: WatcherConfiguration.groups)
        return socket
    }

    private func run() {
        listen()
        do {
            try caches.refillAll(using: dumps.handle)
            let state = caches.state()
            publish(.initial(state), state: state)
        } catch {
            guard recover(reason: "initial dump failed: \(error)", reopen: true) else { return }
        }
        while !control.stopRequested {
            let suspended = control.readingSuspended
            var descriptors = [
                pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0),
                pollfd(fd: suspended ? -1 : events.fileDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, nfds_t(descriptors.count), suspended ? -1 : pollTimeout())
            if ready < 0 && errno != EINTR {
                publisher.publish(.failed("netlink: poll failed: \(String(cString: strerror(errno)))"))
                return
            }
            if descriptors[0].revents != 0 { clearWakeup() }
            if control.stopRequested { return }
            if suspended { continue }
            if descriptors[1].revents != 0 {
                let result = receiveAvailable()
                if result < 0 {
                    let error = NetlinkError(operation: "receiving events", code: result)
                    let reason = error.isOverrun ? "receive queue overrun (ENOBUFS)" : error.description
                    guard recover(reason: reason, reopen: !error.isOverrun) else { return }
                    continue
                }
            }
            guard publishIfDue() else { return }
        }
    }

    /// Routes the event socket's messages to `handle(_:)`.
    private func listen() {
        events.onMessage({ message, context in
            guard let message, let context else { return NL_OK.rawValue.asInt32 }
            Unmanaged<WatcherLoop>.fromOpaque(context).takeUnretainedValue().handle(message)
            return NL_OK.rawValue.asInt32
        }, context: Unmanaged.passUnretained(self).toOpaque())
    }

    private func handle(_ message: OpaquePointer) {
        switch caches.apply(message) {
        case .ignored:
            break
        case .applied:
            pendingEvents += 1
            changed = true
        case .appliedRoutesStale:
            pendingEvents += 1
            changed = true
            routesStale = true
        case .appliedQuietly:
            pendingEvents += 1  // published with the next change that matters
        case .malformed:
            control.countSkippedMessage()  // a later event or resync corrects the caches
        }
    }

    /// Receives until the socket is empty, or until a due publication should not wait any longer.
    /// Returns 0, or a negative libnl error.
    private func receiveAvailable() -> Int32 {
        while true {
            let result = events.receiveOnce()
            if result == 0 || result == -NLE_AGAIN { return 0 }  // queue empty
            if result == -NLE_INTR { continue }
            if result < 0 { return result }
            if changed, publicationDue() { return 0 }
        }
    }

    // MARK: Coalescing

    private func publicationDue(now: ContinuousClock.Instant = .now) -> Bool {
        guard let lastPublication else { return true }
        return now - lastPublication >= configuration.coalescingWindow
    }

    /// Milliseconds until the pending change may be published; -1 (wait for events) when nothing is
    /// pending.
    private func pollTimeout() -> Int32 {
        guard changed, let lastPublication else { return -1 }
        let remaining = configuration.coalescingWindow - (ContinuousClock.now - lastPublication)
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    /// Publishes the caches' state when they changed and the window has passed. Returns false when
    /// the watcher failed for good.
    private func publishIfDue() -> Bool {
        guard changed, publicationDue() else { return true }
        if routesStale {
            do {
                try caches.refillRoutes(using: dumps.handle)
                routesStale = false
            } catch {
                return recover(reason: "re-dumping routes after a link went down failed: \(error)", reopen: true)
            }
        }
        changed = false
        let state = caches.state()
        guard state != lastPublished else { return true }  // e.g. an IPv6-only detail changed
        publish(.changed(state, events: pendingEvents), state: state)
        return true
    }

    private func publish(_ update: NetlinkUpdate, state: NetlinkState) {
        publisher.publish(update)
        lastPublished = state
        lastPublication = .now
        pendingEvents = 0
    }

    // MARK: Recovery

    /// Brings the caches back in line with the kernel after lost or unreadable events: drains the
    /// event socket (or reopens both sockets), re-dumps everything and publishes `.resynced`.
    /// Publishes `.failed` and returns false when that does not work after a few attempts.
    private func recover(reason: String, reopen: Bool) -> Bool {
        var reopen = reopen
        var lastError: any Error = NetlinkError(operation: "recovering", reason: reason)
        for _ in 0..<Self.recoveryAttempts {
            if control.stopRequested { return false }
            do {
                if reopen {
                    events = try Self.openEventSocket(configuration: configuration)
                    dumps = try RtnetlinkSocket(purpose: "dumping")
                    control.receiveBufferSize = events.receiveBufferSize
                    listen()
                } else {
                    events.drain()
                }
                try caches.refillAll(using: dumps.handle)
                changed = false
                routesStale = false
                let state = caches.state()
                // The first state is always `.initial`, even when it took a second attempt.
                publish(lastPublished == nil ? .initial(state) : .resynced(state, reason: reason), state: state)
                return true
            } catch {
                lastError = error
                reopen = true
            }
        }
        publisher.publish(.failed("netlink watcher gave up after \(reason): \(lastError)"))
        return false
    }

    private func clearWakeup() {
        var counter: UInt64 = 0
        _ = read(wakeup, &counter, MemoryLayout<UInt64>.size)
    }
}

extension UInt32 {
    fileprivate var asInt32: Int32 { Int32(bitPattern: self) }
}
