import FwdwatchCore

/// Where alert transitions and daemon notices go: journald, the console, or JSON lines.
public protocol AlertSink: Sendable {
    /// Logs alert transitions, in the order given (the tracker's order: worst first, resolutions last).
    func emit(_ transitions: [AlertTransition])
    /// Logs a notice about the daemon itself.
    func notice(_ notice: DaemonNotice)
    /// Re-sends what an earlier failure held back (journald was away); the daemon calls it on every sweep.
    @discardableResult func retryBacklog() -> Int
}

extension AlertSink {
    /// Sinks that never hold anything back.
    @discardableResult
    public func retryBacklog() -> Int { 0 }

    public func notice(
        _ message: String, id: String? = nil, priority: JournalPriority = .info, fields: [(String, String)] = []
    ) {
        notice(DaemonNotice(message, id: id, priority: priority, fields: fields))
    }
}

/// A human one-line format: `2026-11-27T03:39:00.123Z RAISED   critical eth0: <message>`.
public struct ConsoleAlertSink: AlertSink {
    public let output: LineOutput
    /// Colour escapes; defaults to on when the output is a terminal.
    public let colour: Bool
    private let clock: @Sendable () -> Double

    public init(output: LineOutput = .standardError, colour: Bool? = nil, clock: @escaping @Sendable () -> Double = WallClock.now) {
        self.output = output
        self.colour = colour ?? output.isTerminal
        self.clock = clock
    }

    public func emit(_ transitions: [AlertTransition]) {
        for transition in transitions {
            output.write(ConsoleAlertSink.line(for: transition, time: clock(), colour: colour))
        }
    }

    public func notice(_ notice: DaemonNotice) {
        output.write(ConsoleAlertSink.line(for: notice, time: clock(), colour: colour))
    }

    /// One line for a transition: time, state, severity, subject, message.
    public static func line(for transition: AlertTransition, time: Double, colour: Bool = false) -> String {
        let state = transition.state.rawValue.uppercased().padding(toLength: 8)
        let severity = transition.finding.severity.rawValue.padding(toLength: 8)
        let text = "\(WallClock.rfc3339(time)) \(state) \(severity) \(transition.finding.subject): "
            + AlertFields.message(for: transition)
        guard colour else { return text }
        let code: String
        switch (transition.state, transition.finding.severity) {
        case (.resolved, _): code = "32"  // green
        case (_, .critical): code = "1;31"  // bold red
        case (_, .warning): code = "33"  // yellow
        case (_, .info): code = "36"  // cyan
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// One line for a notice: time, `NOTICE`, priority name, message.
    public static func line(for notice: DaemonNotice, time: Double, colour: Bool = false) -> String {
        let text = "\(WallClock.rfc3339(time)) \("NOTICE".padding(toLength: 8)) \(notice.priority.name.padding(toLength: 8)) "
            + notice.message
        guard colour, notice.priority <= .warning else { return text }
        return "\u{1B}[\(notice.priority <= .error ? "1;31" : "33")m\(text)\u{1B}[0m"
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
