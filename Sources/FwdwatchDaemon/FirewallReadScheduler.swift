/// When the firewall rules are read: never two reads at once, never a change lost, one read for a burst.
///
/// nf_tables announces every committed transaction; a container start or a kube-proxy sync commits several
/// in a row. A burst of notifications is read once, when it has been quiet for `quiet` or, for a burst
/// that never goes quiet, `maximumDelay` after its first notification. A read wanted while one is running
/// is remembered ("read again after this one"), so a change committed during a read is read right after it.
struct FirewallReadScheduler {
    /// What the daemon should do next.
    enum Step: Equatable {
        case startRead
        /// Look again (`quietCheckDue`) after this long: the burst may not be over.
        case checkQuietAfter(Duration)
    }

    let quiet: Duration
    let maximumDelay: Duration

    private enum Reading: Equatable {
        case idle
        /// `again`: a change came in after this read started; read once more when it ends.
        case running(again: Bool)
    }

    private var reading = Reading.idle
    /// The first and the last notification of the burst not yet read.
    private var burst: (first: ContinuousClock.Instant, last: ContinuousClock.Instant)?
    private var quietCheckScheduled = false

    init(quiet: Duration = .milliseconds(30), maximumDelay: Duration = .seconds(1)) {
        self.quiet = quiet
        self.maximumDelay = maximumDelay
    }

    var isReading: Bool { reading != .idle }

    /// nf_tables announced a change at `now`.
    mutating func notified(at now: ContinuousClock.Instant) -> Step? {
        burst = (burst?.first ?? now, now)
        guard !quietCheckScheduled else { return nil }
        quietCheckScheduled = true
        return .checkQuietAfter(quiet)
    }

    /// The check scheduled by a `.checkQuietAfter` is due (a late or stray one is harmless).
    mutating func quietCheckDue(at now: ContinuousClock.Instant) -> Step? {
        quietCheckScheduled = false
        guard let burst else { return nil }
        let due = min(burst.last + quiet, burst.first + maximumDelay)
        guard now >= due else {
            quietCheckScheduled = true
            return .checkQuietAfter(due - now)
        }
        self.burst = nil
        return readWanted(forChange: true)
    }

    /// A read is wanted: for a change (which a read already running may have missed: it is read again
    /// after that one) or for a periodic poll (a read already running serves it).
    mutating func readWanted(forChange: Bool) -> Step? {
        switch reading {
        case .idle:
            reading = .running(again: false)
            return .startRead
        case .running(let again):
            if forChange && !again { reading = .running(again: true) }
            return nil
        }
    }

    /// The running read delivered its result.
    mutating func readFinished() -> Step? {
        guard case .running(let again) = reading else { return nil }
        if again {
            reading = .running(again: false)
            return .startRead
        }
        reading = .idle
        return nil
    }
}
