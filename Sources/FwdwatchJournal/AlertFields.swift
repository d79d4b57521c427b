import FwdwatchCore

/// The journal fields of alerts and daemon notices. Pure: no I/O, so every sink and test sees the same text.
public enum AlertFields {
    /// Field names fwdwatch sets itself; evidence that would land on one of them goes to `FWDWATCH_EVIDENCE_<NAME>`.
    public static let reservedNames: Set<String> = [
        "MESSAGE", "PRIORITY", "MESSAGE_ID", "IFACE", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
        "FWDWATCH_RULE", "FWDWATCH_STATE", "FWDWATCH_SUBJECT", "FWDWATCH_SEVERITY", "FWDWATCH_PREVIOUS_SEVERITY",
        "FWDWATCH_FIX", "FWDWATCH_DURATION_SECONDS", "FWDWATCH_FLAPS", "FWDWATCH_NOTICE",
    ]

    /// The journal entry for one alert transition, in a stable order:
    /// MESSAGE, PRIORITY, MESSAGE_ID, FWDWATCH_RULE, FWDWATCH_STATE, FWDWATCH_SUBJECT, FWDWATCH_SEVERITY,
    /// FWDWATCH_PREVIOUS_SEVERITY (changed), IFACE (when the finding names an interface), FWDWATCH_FIX,
    /// FWDWATCH_DURATION_SECONDS (resolved), FWDWATCH_FLAPS (when > 0), then every evidence item as
    /// `FWDWATCH_<NAME>`.
    public static func fields(for transition: AlertTransition) -> [(String, String)] {
        let finding = transition.finding
        var fields: [(String, String)] = [
            ("MESSAGE", message(for: transition)),
            ("PRIORITY", String(priority(for: transition).rawValue)),
        ]
        if let id = JournalMessageID.forTransition(transition) { fields.append(("MESSAGE_ID", id)) }
        fields += [
            ("FWDWATCH_RULE", finding.rule.rawValue),
            ("FWDWATCH_STATE", transition.state.rawValue),
            ("FWDWATCH_SUBJECT", finding.subject),
            ("FWDWATCH_SEVERITY", finding.severity.rawValue),
        ]
        if transition.state == .changed, let previous = transition.previousSeverity {
            fields.append(("FWDWATCH_PREVIOUS_SEVERITY", previous.rawValue))
        }
        if let interface = finding.interface { fields.append(("IFACE", interface)) }
        fields.append(("FWDWATCH_FIX", finding.fix))
        if transition.state == .resolved, let duration = transition.duration {
            fields.append(("FWDWATCH_DURATION_SECONDS", seconds(duration)))
        }
        if transition.flaps > 0 { fields.append(("FWDWATCH_FLAPS", String(transition.flaps))) }
        for item in finding.evidence {
            var name = JournalField.evidenceName(item.name)
            if reservedNames.contains(name) { name = JournalField.evidenceName("evidence_" + item.name) }
            fields.append((name, item.value))
        }
        return fields
    }

    /// The journal entry of a daemon notice: MESSAGE, PRIORITY, MESSAGE_ID (when given), FWDWATCH_NOTICE=1,
    /// then the notice's own fields; a name journald would drop, or one fwdwatch sets itself, is mapped like
    /// evidence (`lower-case` becomes `FWDWATCH_LOWER_CASE`).
    public static func fields(for notice: DaemonNotice) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("MESSAGE", notice.message),
            ("PRIORITY", String(notice.priority.rawValue)),
        ]
        if let id = notice.id { fields.append(("MESSAGE_ID", id)) }
        fields.append(("FWDWATCH_NOTICE", "1"))
        for (name, value) in notice.fields {
            let valid = JournalField.isValidName(name) && !reservedNames.contains(name)
            fields.append((valid ? name : JournalField.evidenceName(name), value))
        }
        return fields
    }

    /// critical=2, warning=4, info=6 for raised and changed (by the new severity); resolved=5 (notice).
    public static func priority(for transition: AlertTransition) -> JournalPriority {
        switch transition.state {
        case .resolved: .notice
        case .raised, .changed: priority(for: transition.finding.severity)
        }
    }

    public static func priority(for severity: Severity) -> JournalPriority {
        switch severity {
        case .critical: .critical
        case .warning: .warning
        case .info: .info
        }
    }

    /// A sentence a person understands: what is wrong and the fix; or what was resolved and after how long.
    public static func message(for transition: AlertTransition) -> String {
        let finding = transition.finding
        let title = RuleRegistry.rule(finding.rule)?.title ?? finding.rule.rawValue
        let flapNote = transition.flaps > 0 ? " " + flapSentence(transition.flaps) : ""
        switch transition.state {
        case .raised:
            return "\(finding.message) Fix: \(finding.fix)\(flapNote)"
        case .changed:
            let previous = transition.previousSeverity.map { "\($0.rawValue) → " } ?? ""
            return "Severity changed \(previous)\(finding.severity.rawValue) for \(title) on \(finding.subject): "
                + "\(finding.message) Fix: \(finding.fix)\(flapNote)"
        case .resolved:
            let after = transition.duration.map { " after \(humanDuration($0))" } ?? ""
            return "Resolved\(after): \(title) on \(finding.subject).\(flapNote)"
        }
    }

    static func flapSentence(_ flaps: Int) -> String {
        flaps == 1
            ? "It cleared and came back 1 time within the flap hold time (not logged separately)."
            : "It cleared and came back \(flaps) times within the flap hold time (not logged separately)."
    }

    /// `42s`, `5m 03s`, `2h 04m`, `3d 02h`.
    public static func humanDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "0s" }
        if seconds < 10, seconds != seconds.rounded() {
            return "\(self.seconds((seconds * 10).rounded() / 10))s"
        }
        let total = Int(seconds.rounded())
        let (days, hours, minutes, secs) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if days > 0 { return "\(days)d \(two(hours))h" }
        if hours > 0 { return "\(hours)h \(two(minutes))m" }
        if minutes > 0 { return "\(minutes)m \(two(secs))s" }
        return "\(secs)s"
    }

    /// Seconds as a plain decimal with at most three decimals: `42`, `0.5`, `1.234`.
    public static func seconds(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let millis = Int((max(0, value) * 1000).rounded())
        let whole = millis / 1000
        var fraction = millis % 1000
        guard fraction != 0 else { return String(whole) }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let text = String(fraction)
        return "\(whole)." + String(repeating: "0", count: digits - text.count) + text
    }
}

/// A journal entry about the daemon itself (started, reloaded, resynced, an error), as opposed to an alert.
public struct DaemonNotice: Sendable {
    public var message: String
    /// A `JournalMessageID` constant, so `journalctl MESSAGE_ID=...` and the catalog find it.
    public var id: String?
    public var priority: JournalPriority
    /// Extra fields (`NAME`, value); names must be valid journal field names.
    public var fields: [(String, String)]

    public init(_ message: String, id: String? = nil, priority: JournalPriority = .info, fields: [(String, String)] = []) {
        self.message = message
        self.id = id
        self.priority = priority
        self.fields = fields
    }
}
