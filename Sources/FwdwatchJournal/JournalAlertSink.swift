import FwdwatchCore
import Synchronization

/// Alerts and notices to journald, losing none when journald is away.
///
/// When a send fails (journald stopped, socket gone), the entry is written at once to the fallback output
/// (stderr) in the console format, and kept in a bounded backlog. Every later entry waits behind the
/// backlog, so the journal keeps the original order. The backlog is retried on every `emit`/`notice` and
/// on `retryBacklog()` (the daemon calls it on each sweep); re-sent entries carry `FWDWATCH_DELIVERED_LATE=1`
/// and `FWDWATCH_QUEUED_AT` (when they were first logged), followed by a `backlogDelivered` notice. If more
/// than `backlogLimit` entries pile up, the oldest are dropped from the backlog (they were already written to
/// the fallback output) and a `backlogOverflow` notice says how many.
public final class JournalAlertSink: AlertSink {
    private struct Pending {
        var fields: [(String, String)]
        var location: SourceLocation
        var queuedAt: Double
    }

    private struct State {
        var backlog: [Pending] = []
        var dropped = 0
        /// The last send error, reported once per outage on the fallback output.
        var outage: JournalError?
    }

    private let journal: any JournalSending
    private let fallback: LineOutput
    public let backlogLimit: Int
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    public init(
        journal: any JournalSending = JournalWriter(), fallback: LineOutput = .standardError, backlogLimit: Int = 10_000,
        clock: @escaping @Sendable () -> Double = WallClock.now
    ) {
        self.journal = journal
        self.fallback = fallback
        self.backlogLimit = max(1, backlogLimit)
        self.clock = clock
    }

    public func emit(_ transitions: [AlertTransition]) {
        for transition in transitions {
            deliver(AlertFields.fields(for: transition)) {
                ConsoleAlertSink.line(for: transition, time: $0)
            }
        }
    }

    public func notice(_ notice: DaemonNotice) {
        deliver(AlertFields.fields(for: notice)) { ConsoleAlertSink.line(for: notice, time: $0) }
    }

    /// Entries waiting for journald.
    public var backlogCount: Int { state.withLock { $0.backlog.count } }

    /// Tries to send the backlog now; returns how many entries are still waiting.
    @discardableResult
    public func retryBacklog() -> Int {
        state.withLock { state in
            flush(&state)
            return state.backlog.count
        }
    }

    private func deliver(
        _ fields: [(String, String)], location: SourceLocation = SourceLocation(),
        fallbackLine: (Double) -> String
    ) {
        let now = clock()
        state.withLock { state in
            flush(&state)
            if state.backlog.isEmpty {
                do throws(JournalError) {
                    try journal.send(fields, at: location)
                    return
                } catch .invalidFieldName(let name) {
                    // A programming error, not an outage: retrying cannot help, so it must not block the queue.
                    fallback.write("fwdwatch: journal entry refused, invalid field name \"\(name)\"")
                    fallback.write(fallbackLine(now))
                    return
                } catch {
                    if state.outage == nil {
                        fallback.write("fwdwatch: \(error); keeping entries until journald is back")
                    }
                    state.outage = error
                }
            }
            fallback.write(fallbackLine(now))
            state.backlog.append(Pending(fields: fields, location: location, queuedAt: now))
            if state.backlog.count > backlogLimit {
                let excess = state.backlog.count - backlogLimit
                state.backlog.removeFirst(excess)
                state.dropped += excess
            }
        }
    }

    /// Sends the backlog in order until the first failure. Reports the late delivery once it is empty.
    private func flush(_ state: inout State) {
        guard !state.backlog.isEmpty else { return }
        var sent = 0
        for pending in state.backlog {
            var fields = pending.fields
            fields.append(("FWDWATCH_DELIVERED_LATE", "1"))
            fields.append(("FWDWATCH_QUEUED_AT", WallClock.rfc3339(pending.queuedAt)))
            do throws(JournalError) {
                try journal.send(fields, at: pending.location)
                sent += 1
            } catch .invalidFieldName(let name) {
                fallback.write("fwdwatch: journal entry refused, invalid field name \"\(name)\"")
                sent += 1  // already on the fallback output; dropping it keeps the queue moving
            } catch {
                state.outage = error
                break
            }
        }
        state.backlog.removeFirst(sent)
        guard state.backlog.isEmpty else { return }
        let outage = state.outage.map { " (\($0))" } ?? ""
        state.outage = nil
        var notices = [
            DaemonNotice(
                "\(sent) fwdwatch entries that could not be written while journald was unreachable\(outage) "
                    + "were delivered late; their FWDWATCH_QUEUED_AT field tells when they happened.",
                id: JournalMessageID.backlogDelivered, priority: .notice,
                fields: [("FWDWATCH_DELIVERED_COUNT", String(sent))])
        ]
        if state.dropped > 0 {
            notices.append(
                DaemonNotice(
                    "\(state.dropped) fwdwatch entries did not fit the backlog of \(backlogLimit) while journald was "
                        + "unreachable; they were written to standard error only.",
                    id: JournalMessageID.backlogOverflow, priority: .warning,
                    fields: [("FWDWATCH_DROPPED_COUNT", String(state.dropped))]))
            state.dropped = 0
        }
        for notice in notices {
            // Best effort: journald just accepted the backlog; if it vanished again the notice goes to stderr.
            do {
                try journal.send(AlertFields.fields(for: notice), at: SourceLocation())
            } catch {
                fallback.write(ConsoleAlertSink.line(for: notice, time: clock()))
            }
        }
    }
}
