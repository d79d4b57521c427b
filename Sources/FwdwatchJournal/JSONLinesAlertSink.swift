import FoundationEssentials
import FwdwatchCore

/// One JSON object per line for every transition and notice, for pipelines (`fwdwatch watch --log=json | jq`).
///
/// An alert line has `type` "alert", `time` (RFC 3339, UTC), `state`, `rule`, `subject`, `severity`,
/// `previous_severity` (changed only), `message`, `fix`, `interface` (or null), `duration` (seconds, resolved
/// only, else null), `flaps`, `message_id`, and `evidence` (an object of evidence name to value).
/// A notice line has `type` "notice", `time`, `message`, `message_id`, `priority` and `fields`.
/// Keys are sorted; each line is written with one write(2).
public struct JSONLinesAlertSink: AlertSink {
    public let output: LineOutput
    private let clock: @Sendable () -> Double

    public init(output: LineOutput = .standardOutput, clock: @escaping @Sendable () -> Double = WallClock.now) {
        self.output = output
        self.clock = clock
    }

    public func emit(_ transitions: [AlertTransition]) {
        for transition in transitions {
            output.write(Self.line(for: transition, time: clock()))
        }
    }

    public func notice(_ notice: DaemonNotice) {
        output.write(Self.line(for: notice, time: clock()))
    }

    public static func line(for transition: AlertTransition, time: Double) -> String {
        encode(AlertRecord(transition, time: time))
    }

    public static func line(for notice: DaemonNotice, time: Double) -> String {
        encode(NoticeRecord(notice, time: time))
    }

    private static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            // Only strings and numbers are encoded; this is not expected, but never lose the line.
            return #"{"type":"error","message":"could not encode a fwdwatch record"}"#
        }
    }
}

private struct AlertRecord: Encodable {
    var time: String
    var transition: AlertTransition

    init(_ transition: AlertTransition, time: Double) {
        self.time = WallClock.rfc3339(time)
        self.transition = transition
    }

    enum CodingKeys: String, CodingKey {
        case type, time, state, rule, subject, severity, message, fix, interface, duration, flaps, evidence
        case previousSeverity = "previous_severity"
        case messageID = "message_id"
    }

    func encode(to encoder: any Encoder) throws {
        let finding = transition.finding
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("alert", forKey: .type)
        try container.encode(time, forKey: .time)
        try container.encode(transition.state.rawValue, forKey: .state)
        try container.encode(finding.rule.rawValue, forKey: .rule)
        try container.encode(finding.subject, forKey: .subject)
        try container.encode(finding.severity.rawValue, forKey: .severity)
        if transition.state == .changed {
            try container.encodeIfPresent(transition.previousSeverity?.rawValue, forKey: .previousSeverity)
        }
        try container.encode(AlertFields.message(for: transition), forKey: .message)
        try container.encode(finding.fix, forKey: .fix)
        try container.encode(finding.interface, forKey: .interface)
        try container.encode(transition.state == .resolved ? transition.duration : nil, forKey: .duration)
        try container.encode(transition.flaps, forKey: .flaps)
        try container.encode(JournalMessageID.forTransition(transition), forKey: .messageID)
        var evidence: [String: String] = [:]
        for item in finding.evidence { evidence[item.name] = item.value }
        try container.encode(evidence, forKey: .evidence)
    }
}

private struct NoticeRecord: Encodable {
    var time: String
    var notice: DaemonNotice

    init(_ notice: DaemonNotice, time: Double) {
        self.time = WallClock.rfc3339(time)
        self.notice = notice
    }

    enum CodingKeys: String, CodingKey {
        case type, time, message, priority, fields
        case messageID = "message_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("notice", forKey: .type)
        try container.encode(time, forKey: .time)
        try container.encode(notice.message, forKey: .message)
        try container.encode(notice.id, forKey: .messageID)
        try container.encode(notice.priority.rawValue, forKey: .priority)
        var fields: [String: String] = [:]
        for (name, value) in notice.fields { fields[name] = value }
        try container.encode(fields, forKey: .fields)
    }
}
