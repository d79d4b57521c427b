/// The daemon's one input stream: the services (netlink watcher, nftables monitor, firewall reader), the
/// signal handlers and the timers all feed it; only the daemon's loop reads it.
public final class DaemonInputs: Sendable {
    let stream: AsyncStream<DaemonStateMachine.Input>
    private let continuation: AsyncStream<DaemonStateMachine.Input>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream()
    }

    func yield(_ input: DaemonStateMachine.Input) {
        continuation.yield(input)
    }

    /// Nothing is read any more: later inputs are dropped.
    func finish() {
        continuation.finish()
    }
}

/// The state machine's timers, as tasks that sleep and then feed `.timer(kind)`. Scheduling a kind replaces
/// the pending timer of that kind. Used only by the loop's task.
struct DaemonTimers {
    let inputs: DaemonInputs
    private var pending: [DaemonTimer: Task<Void, Never>] = [:]

    init(inputs: DaemonInputs) {
        self.inputs = inputs
    }

    mutating func schedule(_ timer: DaemonTimer, after delay: Duration) {
        pending[timer]?.cancel()
        pending[timer] = Task { [inputs] in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            inputs.yield(.timer(timer))
        }
    }

    mutating func cancelAll() {
        for task in pending.values { task.cancel() }
        pending.removeAll()
    }
}

/// The timers the state machine sets; each fires as `.timer(kind)`.
enum DaemonTimer: Hashable, Sendable, CaseIterable {
    /// Read what emits no event (/proc, persistent settings; the rules where notifications do not reach).
    case sweep
    /// Send WATCHDOG=1 from the next turn.
    case watchdog
    /// A burst of nf_tables notifications may be over.
    case firewallQuiet
    /// An alert's flap hold or settle time ends.
    case flapHold
    /// Look again after a repair (its own netconf event may be coalesced away).
    case repairFollowUp
    /// Start a new netlink watcher after the last one ended.
    case watcherRestart
}
