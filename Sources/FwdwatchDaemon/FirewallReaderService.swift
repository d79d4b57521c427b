#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import FwdwatchFirewall
import FwdwatchNetlink
import ServiceLifecycle
import Synchronization

/// Reads the firewall rules on a thread of its own, never on the Swift concurrency pool: the tools
/// (`iptables-save`, `nft`) block their caller for up to `ToolRunner.timeout` each. The daemon asks
/// (`requestRead()`); the result arrives in its inputs as `.firewallRead`. One thread, so never two reads
/// at once; a request made during a read is served by one more read after it.
public final class FirewallReaderService: Service, Sendable {
    private let inputs: DaemonInputs
    private let reader: FirewallReader
    private let requests = Requests()

    /// Off the event loop, a tool may take as long as in `fwdwatch check` (30 s): `nft -j list table` of a
    /// kube-proxy node with 10,000 services needs about 10 s, and the watchdog no longer waits for it.
    public init(inputs: DaemonInputs, reader: FirewallReader = FirewallReader(runner: ToolRunner())) {
        self.inputs = inputs
        self.reader = reader
    }

    /// Asks for a read (kept until the thread takes it, also before `run()` started the thread).
    func requestRead() {
        requests.post()
    }

    public func run() async throws {
        let requests = self.requests
        let reader = self.reader
        let inputs = self.inputs
        let thread = try DedicatedThread.start(name: "fwdwatch-rules") {
            while requests.next() {
                inputs.yield(.firewallRead(reader.read()))
            }
        }
        pthread_detach(thread)
        // A read in progress is not waited for: its tool is bounded in time, and its result goes nowhere.
        try? await gracefulShutdown()
        requests.stop()
    }

    /// Read requests and the stop request, shared with the thread.
    private final class Requests: Sendable {
        private struct State {
            var pending = false
            var stopped = false
        }

        private let state = Mutex(State())
        private let wakeup = DispatchSemaphore(value: 0)

        func post() {
            state.withLock { $0.pending = true }
            wakeup.signal()
        }

        func stop() {
            state.withLock { $0.stopped = true }
            wakeup.signal()
        }

        /// Waits for a request; true to read, false to end the thread.
        func next() -> Bool {
            while true {
                let taken = state.withLock { state -> Bool? in
                    if state.stopped { return false }
                    guard state.pending else { return nil }
                    state.pending = false
                    return true
                }
                if let taken { return taken }
                wakeup.wait()
            }
        }
    }
}
