/// One change in the alert state of a (rule, subject) key: what the daemon logs.
public struct AlertTransition: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// The key appeared: a problem started.
        case raised
        /// The key has been absent for the hold time: the problem is gone.
        case resolved
        /// The key is still there, at another severity.
        case changed
    }

    public var state: State
    /// The finding as last seen; for `resolved`, the last finding seen before the key disappeared.
    public var finding: Finding
    /// For `changed`: the severity reported before.
    public var previousSeverity: Severity?
    /// Monotonic time (seconds, the caller's clock) when the problem was first raised.
    public var raisedAt: Double
    /// Monotonic time the transition happened. For a delayed resolution this is when the key was first
    /// seen absent, earlier than the `update` call that reports it.
    public var at: Double
    /// For `resolved`: seconds the problem lasted, from `raisedAt` to when the key was first seen absent.
    public var duration: Double?
    /// How many times the key cleared and came back within the hold time since the previous transition
    /// of this key was reported (those flips were not logged); 0 normally.
    public var flaps: Int

    public init(
        state: State, finding: Finding, previousSeverity: Severity? = nil, raisedAt: Double, at: Double,
        duration: Double? = nil, flaps: Int = 0
    ) {
        self.state = state
        self.finding = finding
        self.previousSeverity = previousSeverity
        self.raisedAt = raisedAt
        self.at = at
        self.duration = duration
        self.flaps = flaps
    }

    public var key: FindingKey { finding.key }
}

/// Turns the stream of evaluations into alert transitions: a problem is logged when it appears,
/// when its severity changes and when it goes away, never while it merely persists.
///
/// Flapping: a key that disappears is only reported `resolved` once it has stayed absent for
/// `flapHoldSeconds`. If it comes back before that, nothing is logged and the flip is counted; the
/// count travels in `flaps` on the next transition reported for that key. Because a resolution can
/// become due without any new evaluation, the daemon calls `update` on every evaluation *and* on
/// every periodic sweep (with the current findings), and may use `nextDeadline` to wake up in time.
/// With `flapHoldSeconds == 0` every change is reported at once.
///
/// Pure: time is supplied by the caller as monotonic seconds.
public struct AlertTracker: Sendable {
    public let flapHoldSeconds: Double
    /// How long a new finding of these rules must persist before it is raised: states every container
    /// start passes through (a new veth without carrier for a moment) must not log an alert pair.
    public let settleSeconds: [RuleID: Double]

    /// What the tracker remembers about one key that has been raised and not yet resolved.
    private struct Alert: Sendable {
        /// The last finding seen for the key (message and evidence are refreshed silently).
        var finding: Finding
        /// The severity the journal last heard about.
        var reportedSeverity: Severity
        var raisedAt: Double
        /// Clear/reappear cycles suppressed since the last reported transition of this key.
        var suppressedFlaps: Int
    }

    private enum KeyState: Sendable {
        /// Seen since `since` but not raised yet: its rule wants it to settle first.
        case pending(Finding, since: Double)
        /// Present in the latest findings.
        case present(Alert)
        /// Absent since `since`, resolution held back until `since + flapHoldSeconds`.
        case clearing(Alert, since: Double)
    }

    private var keys: [FindingKey: KeyState] = [:]

    public init(flapHoldSeconds: Double = 0, settleSeconds: [RuleID: Double] = [:]) {
        self.flapHoldSeconds = max(0, flapHoldSeconds.isFinite ? flapHoldSeconds : 0)
        self.settleSeconds = settleSeconds.filter { $0.value.isFinite && $0.value > 0 }
    }

    /// The settle times the rules ask for (`Rule.settleSeconds`).
    public static func settleSeconds(of rules: [any Rule]) -> [RuleID: Double] {
        Dictionary(rules.filter { $0.settleSeconds > 0 }.map { ($0.id, $0.settleSeconds) }, uniquingKeysWith: max)
    }

    /// Feeds one evaluation's findings at monotonic time `now` (seconds) and returns the transitions
    /// to log: `raised` and `changed` worst first (then by rule and subject), then `resolved` in the
    /// same order. If several findings share a key, the worst one (the first among equals) counts.
    public mutating func update(_ findings: [Finding], now: Double) -> [AlertTransition] {
        var current: [FindingKey: Finding] = [:]
        for finding in findings {
            if let seen = current[finding.key], seen.severity >= finding.severity { continue }
            current[finding.key] = finding
        }

        var raisedOrChanged: [AlertTransition] = []
        var resolved: [AlertTransition] = []

        for (key, finding) in current {
            switch keys[key] {
            case nil where (settleSeconds[key.rule] ?? 0) > 0:
                keys[key] = .pending(finding, since: now)
            case .pending(_, let since) where now - since < settleSeconds[key.rule] ?? 0:
                keys[key] = .pending(finding, since: since)
            case nil, .pending:
                keys[key] = .present(
                    Alert(finding: finding, reportedSeverity: finding.severity, raisedAt: now, suppressedFlaps: 0))
                raisedOrChanged.append(AlertTransition(state: .raised, finding: finding, raisedAt: now, at: now))
            case .present(var alert):
                alert.finding = finding
                if let change = Self.severityChange(&alert, now: now) { raisedOrChanged.append(change) }
                keys[key] = .present(alert)
            case .clearing(var alert, _):
                // Came back within the hold time: a suppressed flap, not a new problem.
                alert.finding = finding
                alert.suppressedFlaps += 1
                if let change = Self.severityChange(&alert, now: now) { raisedOrChanged.append(change) }
                keys[key] = .present(alert)
            }
        }

        for (key, state) in keys where current[key] == nil {
            let alert: Alert
            let since: Double
            switch state {
            case .pending:
                keys[key] = nil  // a passing state that never settled: nothing was logged, nothing to resolve
                continue
            case .present(let a):
                alert = a
                since = now
            case .clearing(let a, let s):
                alert = a
                since = s
            }
            if now - since >= flapHoldSeconds {
                keys[key] = nil
                resolved.append(
                    AlertTransition(
                        state: .resolved, finding: alert.finding, raisedAt: alert.raisedAt, at: since,
                        duration: max(0, since - alert.raisedAt), flaps: alert.suppressedFlaps))
            } else {
                keys[key] = .clearing(alert, since: since)
            }
        }

        return Self.sorted(raisedOrChanged) + Self.sorted(resolved)
    }

    /// Findings present in the latest update, worst first, then by rule and subject (like `Evaluator`).
    public var active: [Finding] {
        Self.sorted(
            keys.values.compactMap {
                if case .present(let alert) = $0 { alert.finding } else { nil }
            })
    }

    /// Findings that have disappeared but whose resolution is still held back (flap hold), in the same order.
    public var clearing: [Finding] {
        Self.sorted(
            keys.values.compactMap {
                if case .clearing(let alert, _) = $0 { alert.finding } else { nil }
            })
    }

    /// The earliest monotonic time at which a held-back resolution becomes due, if any.
    public var nextDeadline: Double? {
        keys.compactMap { key, state in
            switch state {
            case .clearing(_, let since): since + flapHoldSeconds
            case .pending(_, let since): since + (settleSeconds[key.rule] ?? 0)
            case .present: nil
            }
        }.min()
    }

    /// A `changed` transition when the severity differs from the one last reported; updates `alert`.
    private static func severityChange(_ alert: inout Alert, now: Double) -> AlertTransition? {
        guard alert.finding.severity != alert.reportedSeverity else { return nil }
        let transition = AlertTransition(
            state: .changed, finding: alert.finding, previousSeverity: alert.reportedSeverity,
            raisedAt: alert.raisedAt, at: now, flaps: alert.suppressedFlaps)
        alert.reportedSeverity = alert.finding.severity
        alert.suppressedFlaps = 0
        return transition
    }

    private static func sorted(_ findings: [Finding]) -> [Finding] {
        findings.sorted(by: worstFirst)
    }

    private static func sorted(_ transitions: [AlertTransition]) -> [AlertTransition] {
        transitions.sorted { worstFirst($0.finding, $1.finding) }
    }

    private static func worstFirst(_ a: Finding, _ b: Finding) -> Bool {
        if a.severity != b.severity { return a.severity > b.severity }
        return a.key < b.key
    }
}
