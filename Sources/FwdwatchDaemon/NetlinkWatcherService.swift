import FwdwatchNetlink
import ServiceLifecycle
import Synchronization

/// The rtnetlink watcher as a service: starts a `NetlinkWatcher` (its own thread), feeds its updates to the
/// daemon, and starts a new one when the daemon asks (`restart`, after the last one failed and ended).
public final class NetlinkWatcherService: Service, Sendable {
    private let receiveBufferBytes: Int
    private let coalescingWindow: Duration
    private let inputs: DaemonInputs
    /// The running watcher; `stopping` once graceful shutdown began (a watcher started later stops at once).
    private let current = Mutex<(watcher: NetlinkWatcher?, stopping: Bool)>((nil, false))
    private let restarts: AsyncStream<Duration>
    private let restartRequests: AsyncStream<Duration>.Continuation

    public init(receiveBufferBytes: Int, coalescingWindow: Duration, inputs: DaemonInputs) {
        self.receiveBufferBytes = receiveBufferBytes
        self.coalescingWindow = coalescingWindow
        self.inputs = inputs
        (restarts, restartRequests) = AsyncStream.makeStream()
    }

    /// Starts a new watcher (the daemon calls this after the last one ended).
    func restart(coalescingWindow: Duration) {
        restartRequests.yield(coalescingWindow)
    }

    /// Throws when the first watcher cannot open its sockets: the daemon cannot watch anything.
    public func run() async throws {
        let first = try start(coalescingWindow: coalescingWindow)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.forward(first) }
                for await window in restarts {
                    do {
                        let updates = try start(coalescingWindow: window)
                        group.addTask { await self.forward(updates) }
                    } catch {
                        inputs.yield(.watcherRestartFailed("\(error)"))
                    }
                }
            }
        } onGracefulShutdown: {
            self.restartRequests.finish()
            self.current.withLock { current in
                current.stopping = true
                return current.watcher
            }?.stop()
        }
    }

    private func start(coalescingWindow: Duration) throws -> AsyncStream<NetlinkUpdate> {
        let watcher = NetlinkWatcher(receiveBufferBytes: receiveBufferBytes, coalescingWindow: coalescingWindow)
        let updates = try watcher.updates()
        let stopping = current.withLock { current in
            current.watcher = watcher
            return current.stopping
        }
        if stopping { watcher.stop() }
        inputs.yield(.watcherStarted(receiveBufferSize: watcher.receiveBufferSize))
        return updates
    }

    private func forward(_ updates: AsyncStream<NetlinkUpdate>) async {
        for await update in updates { inputs.yield(.netlink(update)) }
        inputs.yield(.netlinkEnded)
    }
}
