import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Logging
import Testing

@testable import FwdwatchJournal

private let incidentFinding = Finding(
    rule: "interface-forwarding-disabled", subject: "eth0", severity: .critical,
    message: "eth0 has forwarding disabled (net.ipv4.conf.eth0.forwarding=0) although net.ipv4.ip_forward=1.",
    fix: "sysctl -w net.ipv4.conf.eth0.forwarding=1", interface: "eth0",
    evidence: [
        Evidence("sysctl", "net.ipv4.conf.eth0.forwarding"), Evidence("value", "0"),
        Evidence("in_addr_errors_per_second", "12.5"),
    ])

private func raised(_ finding: Finding = incidentFinding) -> AlertTransition {
    AlertTransition(state: .raised, finding: finding, raisedAt: 100, at: 100)
}

private func resolved(_ finding: Finding = incidentFinding, duration: Double = 42, flaps: Int = 0) -> AlertTransition {
    AlertTransition(state: .resolved, finding: finding, raisedAt: 100, at: 100 + duration, duration: duration, flaps: flaps)
}

private func value(_ fields: [(String, String)], _ name: String) -> String? {
    fields.first { $0.0 == name }?.1
}

private let interfaceRule = RuleRegistry.rule("interface-forwarding-disabled")

@Suite("Journal fields of alerts")
struct AlertFieldsTests {
    @Test("a raised alert carries the message with the fix, priority, MESSAGE_ID, IFACE and every evidence item")
    func raisedFields() throws {
        let fields = AlertFields.fields(for: raised())
        let rule = try #require(interfaceRule)
        #expect(value(fields, "MESSAGE") == incidentFinding.message + " Fix: " + incidentFinding.fix)
        #expect(value(fields, "PRIORITY") == "2")
        #expect(value(fields, "MESSAGE_ID") == rule.messageID)
        #expect(value(fields, "FWDWATCH_RULE") == "interface-forwarding-disabled")
        #expect(value(fields, "FWDWATCH_STATE") == "raised")
        #expect(value(fields, "FWDWATCH_SUBJECT") == "eth0")
        #expect(value(fields, "FWDWATCH_SEVERITY") == "critical")
        #expect(value(fields, "IFACE") == "eth0")
        #expect(value(fields, "FWDWATCH_FIX") == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(value(fields, "FWDWATCH_SYSCTL") == "net.ipv4.conf.eth0.forwarding")
        #expect(value(fields, "FWDWATCH_VALUE") == "0")
        #expect(value(fields, "FWDWATCH_IN_ADDR_ERRORS_PER_SECOND") == "12.5")
        #expect(value(fields, "FWDWATCH_DURATION_SECONDS") == nil)
        #expect(value(fields, "FWDWATCH_FLAPS") == nil)
        #expect(fields.map(\.0).prefix(3) == ["MESSAGE", "PRIORITY", "MESSAGE_ID"])
        #expect(fields.allSatisfy { JournalField.isValidName($0.0) })
        #expect(Set(fields.map(\.0)).count == fields.count)
    }

    @Test("priorities follow severity; resolutions are notices")
    func priorities() {
        for (severity, priority) in [(Severity.critical, "2"), (.warning, "4"), (.info, "6")] {
            var finding = incidentFinding
            finding.severity = severity
            #expect(value(AlertFields.fields(for: raised(finding)), "PRIORITY") == priority)
            #expect(value(AlertFields.fields(for: resolved(finding)), "PRIORITY") == "5")
        }
    }

    @Test("a resolution says how long it lasted, with the shared MESSAGE_ID and the rule's title")
    func resolvedFields() throws {
        let fields = AlertFields.fields(for: resolved())
        let rule = try #require(interfaceRule)
        #expect(value(fields, "MESSAGE") == "Resolved after 42s: \(rule.title) on eth0.")
        #expect(value(fields, "MESSAGE_ID") == RuleRegistry.resolvedMessageID)
        #expect(value(fields, "FWDWATCH_STATE") == "resolved")
        #expect(value(fields, "FWDWATCH_DURATION_SECONDS") == "42")
        #expect(value(fields, "IFACE") == "eth0")
        #expect(value(fields, "FWDWATCH_FLAPS") == nil)
    }

    @Test("suppressed flaps are counted in a field and in the message")
    func flaps() {
        let fields = AlertFields.fields(for: resolved(duration: 3725.5, flaps: 3))
        #expect(value(fields, "FWDWATCH_FLAPS") == "3")
        #expect(value(fields, "FWDWATCH_DURATION_SECONDS") == "3725.5")
        let message = value(fields, "MESSAGE") ?? ""
        #expect(message.hasPrefix("Resolved after 1h 02m: "))
        #expect(message.contains("came back 3 times"))
    }

    @Test("a severity change names old and new severity and is prioritised by the new one")
    func changedFields() {
        var finding = incidentFinding
        finding.severity = .warning
        let transition = AlertTransition(
            state: .changed, finding: finding, previousSeverity: .critical, raisedAt: 0, at: 5, flaps: 1)
        let fields = AlertFields.fields(for: transition)
        #expect(value(fields, "FWDWATCH_STATE") == "changed")
        #expect(value(fields, "FWDWATCH_SEVERITY") == "warning")
        #expect(value(fields, "FWDWATCH_PREVIOUS_SEVERITY") == "critical")
        #expect(value(fields, "PRIORITY") == "4")
        #expect(value(fields, "MESSAGE_ID") == interfaceRule?.messageID)
        #expect(value(fields, "MESSAGE")?.contains("critical → warning") == true)
        #expect(value(fields, "MESSAGE")?.contains("Fix: sysctl -w") == true)
        #expect(value(fields, "FWDWATCH_FLAPS") == "1")
    }

    @Test("findings without an interface have no IFACE; unknown rules have no MESSAGE_ID")
    func optionalFields() {
        let hostWide = Finding(
            rule: "ip-forwarding-disabled", subject: "net.ipv4.conf.all.forwarding", severity: .critical,
            message: "off", fix: "sysctl -w net.ipv4.ip_forward=1")
        #expect(value(AlertFields.fields(for: raised(hostWide)), "IFACE") == nil)
        let unknown = Finding(rule: "no-such-rule", subject: "x", severity: .info, message: "m", fix: "f")
        #expect(value(AlertFields.fields(for: raised(unknown)), "MESSAGE_ID") == nil)
        #expect(value(AlertFields.fields(for: resolved(unknown)), "MESSAGE") == "Resolved after 42s: no-such-rule on x.")
    }

    @Test("evidence that would overwrite fwdwatch's own fields is renamed")
    func evidenceCollision() {
        var finding = incidentFinding
        finding.evidence = [Evidence("rule", "sneaky"), Evidence("fix", "also")]
        let fields = AlertFields.fields(for: raised(finding))
        #expect(fields.filter { $0.0 == "FWDWATCH_RULE" }.map(\.1) == ["interface-forwarding-disabled"])
        #expect(value(fields, "FWDWATCH_EVIDENCE_RULE") == "sneaky")
        #expect(value(fields, "FWDWATCH_EVIDENCE_FIX") == "also")
    }

    @Test("notices carry their MESSAGE_ID, priority and fields")
    func noticeFields() {
        let notice = DaemonNotice(
            "fwdwatch started", id: JournalMessageID.started, priority: .notice, fields: [("FWDWATCH_BRIDGES", "2")])
        let fields = AlertFields.fields(for: notice)
        #expect(value(fields, "MESSAGE") == "fwdwatch started")
        #expect(value(fields, "MESSAGE_ID") == JournalMessageID.started)
        #expect(value(fields, "PRIORITY") == "5")
        #expect(value(fields, "FWDWATCH_BRIDGES") == "2")

        let odd = DaemonNotice("x", fields: [("lower-case", "1"), ("MESSAGE", "2"), ("FWDWATCH_OK", "3")])
        let mapped = AlertFields.fields(for: odd)
        #expect(value(mapped, "FWDWATCH_LOWER_CASE") == "1")
        #expect(value(mapped, "FWDWATCH_MESSAGE") == "2")
        #expect(value(mapped, "FWDWATCH_OK") == "3")
        #expect(mapped.filter { $0.0 == "MESSAGE" }.map(\.1) == ["x"])
        #expect(mapped.allSatisfy { JournalField.isValidName($0.0) })
    }

    @Test("durations read like a person would write them")
    func durations() {
        #expect(AlertFields.humanDuration(0) == "0s")
        #expect(AlertFields.humanDuration(0.46) == "0.5s")
        #expect(AlertFields.humanDuration(42) == "42s")
        #expect(AlertFields.humanDuration(303) == "5m 03s")
        #expect(AlertFields.humanDuration(7440) == "2h 04m")
        #expect(AlertFields.humanDuration(266_400) == "3d 02h")
        #expect(AlertFields.humanDuration(-1) == "0s")
        #expect(AlertFields.seconds(42) == "42")
        #expect(AlertFields.seconds(0.5) == "0.5")
        #expect(AlertFields.seconds(1.2345) == "1.235")
        #expect(AlertFields.seconds(10.05) == "10.05")
        #expect(AlertFields.seconds(.nan) == "0")
    }
}

@Suite("Journal field names")
struct JournalFieldTests {
    @Test("valid names are A-Z, 0-9 and _, not leading _ or digit, at most 64")
    func validity() {
        for name in ["MESSAGE", "IFACE", "FWDWATCH_IN_ADDR_ERRORS", "A", "X9_", String(repeating: "A", count: 64)] {
            #expect(JournalField.isValidName(name), "\(name)")
        }
        for name in ["", "_PID", "9LIVES", "message", "FWD-WATCH", "FWD WATCH", "ÄRGER", String(repeating: "A", count: 65)] {
            #expect(!JournalField.isValidName(name), "\(name)")
        }
    }

    @Test("evidence names map to FWDWATCH_<NAME>, always valid")
    func evidenceNames() {
        #expect(JournalField.evidenceName("in_addr_errors_per_second") == "FWDWATCH_IN_ADDR_ERRORS_PER_SECOND")
        #expect(JournalField.evidenceName("stp-state") == "FWDWATCH_STP_STATE")
        #expect(JournalField.evidenceName("net.ipv4") == "FWDWATCH_NET_IPV4")
        #expect(JournalField.evidenceName("") == "FWDWATCH_EVIDENCE")
        let long = JournalField.evidenceName(String(repeating: "x", count: 100))
        #expect(long.count == 64)
        for name in ["in_addr_errors_per_second", "ünïcode", "9lives", "_x", String(repeating: "y", count: 80)] {
            #expect(JournalField.isValidName(JournalField.evidenceName(name)), "\(name)")
        }
    }

    @Test("the writer refuses invalid field names instead of letting journald drop them")
    func writerRejectsInvalidNames() {
        #expect(throws: JournalError.invalidFieldName("lower")) {
            try JournalWriter(identifier: "fwdwatch-test").send([("MESSAGE", "x"), ("lower", "y")])
        }
        #expect(throws: JournalError.invalidFieldName("_TRUSTED")) {
            try JournalWriter(identifier: "fwdwatch-test").send([("_TRUSTED", "y")])
        }
    }
}

@Suite("Console and JSON sinks")
struct LineSinkTests {
    // 2026-11-27T03:39:00.123Z
    let time = 1_795_750_740.123

    @Test("console lines show time, state, severity, subject and message")
    func consoleLine() {
        let line = ConsoleAlertSink.line(for: raised(), time: time)
        #expect(line.hasPrefix("2026-11-27T03:39:00.123Z RAISED   critical eth0: eth0 has forwarding disabled"))
        #expect(line.hasSuffix("Fix: sysctl -w net.ipv4.conf.eth0.forwarding=1"))
        #expect(!line.contains("\u{1B}"))
        #expect(!line.contains("\n"))
        let done = ConsoleAlertSink.line(for: resolved(), time: time)
        #expect(done.hasPrefix("2026-11-27T03:39:00.123Z RESOLVED critical eth0: Resolved after 42s"))
    }

    @Test("colour is used on a terminal only")
    func consoleColour() {
        let recorder = LineRecorder()
        ConsoleAlertSink(output: recorder.output, clock: { time }).emit([raised(), resolved()])
        #expect(recorder.all.count == 2)
        #expect(recorder.all.allSatisfy { !$0.contains("\u{1B}") })
        let terminal = LineRecorder()
        let output = LineOutput(isTerminal: true) { line in terminal.output.write(line) }
        ConsoleAlertSink(output: output, clock: { time }).emit([raised(), resolved()])
        #expect(terminal.all.first?.hasPrefix("\u{1B}[1;31m") == true)
        #expect(terminal.all.last?.hasPrefix("\u{1B}[32m") == true)
        #expect(terminal.all.allSatisfy { $0.hasSuffix("\u{1B}[0m") })
    }

    @Test("console notices")
    func consoleNotice() {
        let recorder = LineRecorder()
        ConsoleAlertSink(output: recorder.output, clock: { time }).notice("fwdwatch started", id: JournalMessageID.started)
        #expect(recorder.all == ["2026-11-27T03:39:00.123Z NOTICE   info     fwdwatch started"])
    }

    @Test("JSON lines carry every field with sorted keys, one object per line")
    func jsonLine() throws {
        let recorder = LineRecorder()
        let sink = JSONLinesAlertSink(output: recorder.output, clock: { time })
        sink.emit([raised(), resolved(flaps: 2)])
        sink.notice("reloaded", id: JournalMessageID.reloaded, priority: .notice, fields: [("FWDWATCH_FILE", "/etc/x")])
        let lines = recorder.all
        try #require(lines.count == 3)
        #expect(lines.allSatisfy { !$0.contains("\n") })

        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["type"] as? String == "alert")
        #expect(first["time"] as? String == "2026-11-27T03:39:00.123Z")
        #expect(first["state"] as? String == "raised")
        #expect(first["rule"] as? String == "interface-forwarding-disabled")
        #expect(first["subject"] as? String == "eth0")
        #expect(first["severity"] as? String == "critical")
        #expect(first["message"] as? String == AlertFields.message(for: raised()))
        #expect(first["fix"] as? String == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(first["interface"] as? String == "eth0")
        #expect(first["duration"] is NSNull)
        #expect(first["flaps"] as? Int == 0)
        #expect(first["message_id"] as? String == interfaceRule?.messageID)
        let evidence = try #require(first["evidence"] as? [String: String])
        #expect(evidence == ["sysctl": "net.ipv4.conf.eth0.forwarding", "value": "0", "in_addr_errors_per_second": "12.5"])

        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["state"] as? String == "resolved")
        #expect(second["duration"] as? Double == 42)
        #expect(second["flaps"] as? Int == 2)
        #expect(second["message_id"] as? String == RuleRegistry.resolvedMessageID)

        let third = try #require(try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any])
        #expect(third["type"] as? String == "notice")
        #expect(third["message_id"] as? String == JournalMessageID.reloaded)
        #expect(third["priority"] as? Int == 5)
        #expect((third["fields"] as? [String: String]) == ["FWDWATCH_FILE": "/etc/x"])

        // Keys are sorted: "duration" comes before "evidence", which comes before "fix".
        let keys = ["\"duration\"", "\"evidence\"", "\"fix\"", "\"flaps\"", "\"interface\"", "\"message\""]
        let positions = keys.compactMap { lines[0].range(of: $0)?.lowerBound }
        #expect(positions.count == keys.count)
        #expect(positions == positions.sorted())
    }

    @Test("RFC 3339 times are UTC with milliseconds")
    func rfc3339() {
        #expect(WallClock.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.rfc3339(951_782_400.5) == "2000-02-29T00:00:00.500Z")
        #expect(abs(WallClock.now() - Date().timeIntervalSince1970) < 5)
    }
}

@Suite("JournalAlertSink without journald")
struct JournalAlertSinkTests {
    @Test("alerts go to the journal in order while it is reachable")
    func delivers() {
        let journal = RecordingJournal()
        let fallback = LineRecorder()
        let sink = JournalAlertSink(journal: journal, fallback: fallback.output)
        sink.emit([raised(), resolved()])
        #expect(journal.entries.map { $0.value("FWDWATCH_STATE") } == ["raised", "resolved"])
        #expect(fallback.all.isEmpty)
        #expect(sink.backlogCount == 0)
    }

    @Test("no alert is lost: stderr at once while journald is gone, then the backlog in order")
    func backlog() throws {
        let journal = RecordingJournal()
        let fallback = LineRecorder()
        let sink = JournalAlertSink(journal: journal, fallback: fallback.output, clock: { 1_795_750_740 })
        sink.emit([raised()])
        journal.setReachable(false)
        sink.emit([resolved()])
        sink.notice("reloaded", id: JournalMessageID.reloaded)
        #expect(sink.backlogCount == 2)
        #expect(journal.entries.count == 1)
        // One line saying why, then each entry in the console format.
        try #require(fallback.all.count == 3)
        #expect(fallback.all[0].contains("Connection refused"))
        #expect(fallback.all[1].contains("RESOLVED") && fallback.all[1].contains("Resolved after 42s"))
        #expect(fallback.all[2].contains("reloaded"))
        #expect(sink.retryBacklog() == 2)

        journal.setReachable(true)
        var later = incidentFinding
        later.subject = "eth1"
        sink.emit([raised(later)])
        let entries = journal.entries
        #expect(sink.backlogCount == 0)
        try #require(entries.count == 5, "\(entries.map(\.fields))")
        // raised, (backlog) resolved + reloaded, backlogDelivered notice, then the new alert.
        #expect(
            entries.map { $0.value("MESSAGE_ID") } == [
                interfaceRule?.messageID, RuleRegistry.resolvedMessageID, JournalMessageID.reloaded,
                JournalMessageID.backlogDelivered, interfaceRule?.messageID,
            ])
        #expect(entries[1].value("FWDWATCH_DELIVERED_LATE") == "1")
        #expect(entries[1].value("FWDWATCH_QUEUED_AT") == "2026-11-27T03:39:00.000Z")
        #expect(entries[2].value("FWDWATCH_DELIVERED_LATE") == "1")
        #expect(entries[3].value("FWDWATCH_DELIVERED_COUNT") == "2")
        #expect(entries[4].value("FWDWATCH_SUBJECT") == "eth1")
        #expect(entries[4].value("FWDWATCH_DELIVERED_LATE") == nil)
    }

    @Test("retryBacklog delivers without a new alert")
    func retry() {
        let journal = RecordingJournal()
        let sink = JournalAlertSink(journal: journal, fallback: LineRecorder().output)
        journal.setReachable(false)
        sink.emit([raised()])
        journal.setReachable(true)
        #expect(sink.retryBacklog() == 0)
        #expect(journal.entries.map { $0.value("FWDWATCH_STATE") } == ["raised", nil])
    }

    @Test("an overflowing backlog keeps the newest entries and reports how many were dropped")
    func overflow() {
        let journal = RecordingJournal()
        let fallback = LineRecorder()
        let sink = JournalAlertSink(journal: journal, fallback: fallback.output, backlogLimit: 3)
        journal.setReachable(false)
        let findings = (0..<5).map { index -> Finding in
            var finding = incidentFinding
            finding.subject = "veth\(index)"
            return finding
        }
        sink.emit(findings.map { raised($0) })
        #expect(sink.backlogCount == 3)
        #expect(fallback.all.count == 6)  // every alert still reached stderr
        journal.setReachable(true)
        sink.retryBacklog()
        let entries = journal.entries
        #expect(entries.prefix(3).map { $0.value("FWDWATCH_SUBJECT") } == ["veth2", "veth3", "veth4"])
        #expect(entries.map { $0.value("MESSAGE_ID") }.suffix(2) == [JournalMessageID.backlogDelivered, JournalMessageID.backlogOverflow])
        #expect(entries.last?.value("FWDWATCH_DROPPED_COUNT") == "2")
    }
}

@Suite("JournalLogHandler")
struct JournalLogHandlerTests {
    @Test("log lines become entries with priority, source location and metadata fields")
    func fields() throws {
        let journal = RecordingJournal()
        var logger = Logger(label: "fwdwatch.netlink") { JournalLogHandler(label: $0, journal: journal) }
        logger.logLevel = .debug
        logger[metadataKey: "netlink.group"] = "netconf"
        logger.warning(
            "receive buffer overran, resyncing",
            metadata: ["MESSAGE_ID": "\(JournalMessageID.resynced)", "IFACE": "eth0", "MESSAGE": "not me", "count": "3"])
        logger.debug("debug line")
        logger.trace("below the level")
        let entries = journal.entries
        #expect(entries.count == 2)
        let entry = try #require(entries.first)
        #expect(entry.values("MESSAGE") == ["receive buffer overran, resyncing"])
        #expect(entry.value("PRIORITY") == "4")
        #expect(entry.value("FWDWATCH_LOGGER") == "fwdwatch.netlink")
        #expect(entry.value("FWDWATCH_NETLINK_GROUP") == "netconf")
        #expect(entry.value("MESSAGE_ID") == JournalMessageID.resynced)
        #expect(entry.value("IFACE") == "eth0")
        #expect(entry.value("FWDWATCH_MESSAGE") == "not me")
        #expect(entry.value("FWDWATCH_COUNT") == "3")
        #expect(entry.location.fileID.hasSuffix("JournalTests.swift"))
        #expect(entry.location.function.hasPrefix("fields"))
        #expect(entries.last?.value("PRIORITY") == "7")
    }

    @Test("every level maps to a syslog priority")
    func levels() {
        let expected: [Logger.Level: JournalPriority] = [
            .trace: .debug, .debug: .debug, .info: .info, .notice: .notice, .warning: .warning, .error: .error,
            .critical: .critical,
        ]
        for (level, priority) in expected { #expect(JournalLogHandler.priority(level) == priority) }
    }

    @Test("when journald is unreachable the line goes to stderr")
    func fallback() {
        let journal = RecordingJournal()
        journal.setReachable(false)
        let fallback = LineRecorder()
        let logger = Logger(label: "fwdwatch") { JournalLogHandler(label: $0, journal: journal, fallback: fallback.output) }
        logger.error("cannot read /proc/net/snmp")
        #expect(fallback.all.count == 1)
        #expect(fallback.all.first?.contains("cannot read /proc/net/snmp") == true)
    }
}

@Suite("LogTarget")
struct LogTargetTests {
    @Test("journal when journald's socket exists, console otherwise")
    func automatic() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-logtarget-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socketPath = directory.appendingPathComponent("socket").path
        #expect(LogTarget.automatic(journalSocket: socketPath) == .console)
        FileManager.default.createFile(atPath: socketPath, contents: Data())
        #expect(LogTarget.automatic(journalSocket: socketPath) == .console)  // a plain file is not journald
        try FileManager.default.removeItem(atPath: socketPath)
        let fd = try bindDatagramSocket(at: socketPath)
        defer { close(fd) }
        #expect(LogTarget.automatic(journalSocket: socketPath) == .journal)
        #expect(LogTarget.journal.makeSink() is JournalAlertSink)
        #expect(LogTarget.console.makeSink() is ConsoleAlertSink)
        #expect(LogTarget.json.makeSink() is JSONLinesAlertSink)
    }
}

struct SocketError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Binds an AF_UNIX datagram socket at `path` and returns its descriptor.
func bindDatagramSocket(at path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        close(fd)
        throw SocketError("socket path too long: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        let message = String(cString: strerror(errno))
        close(fd)
        throw SocketError("bind \(path): \(message)")
    }
    return fd
}
