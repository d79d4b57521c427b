import Foundation
import FwdwatchCore
import Logging
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchJournal

@Suite("Catalog accepted by journalctl")
struct JournalCatalogTests {
    static let catalog = packageRoot() + "/packaging/catalog/fwdwatch.catalog"

    @Test("journalctl --update-catalog parses the catalog and lists exactly the rule, resolution and notice ids")
    func journalctlListsEveryID() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-catalog-\(randomSuffix())")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("usr/lib/systemd/catalog")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Self.catalog, toPath: directory.appendingPathComponent("fwdwatch.catalog").path)

        let update = try Shell.run(["journalctl", "--root=\(root.path)", "--update-catalog"], check: false)
        #expect(update.succeeded, "\(update.stderr)")
        #expect(!update.stderr.contains("fwdwatch.catalog"), "journalctl complained: \(update.stderr)")
        let listed = try Shell.run(["journalctl", "--root=\(root.path)", "--list-catalog", "--no-pager"])
        var ids: [String] = []
        for line in listed.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            ids.append(String(parts[0]))
            #expect(parts[1].hasPrefix("fwdwatch: "), "entry \(parts[0]) not defined by fwdwatch")
        }
        let expected =
            RuleRegistry.all.map(\.messageID) + [RuleRegistry.resolvedMessageID] + JournalMessageID.all.map(\.id)
        #expect(ids.sorted() == expected.sorted())
        #expect(Set(expected).count == expected.count)

        // A whole entry comes back, body included.
        let rule = try #require(RuleRegistry.rule("interface-forwarding-disabled"))
        let entry = try Shell.run(["journalctl", "--root=\(root.path)", "--dump-catalog", rule.messageID, "--no-pager"])
        #expect(entry.stdout.contains("Subject: Forwarding is disabled on interface @IFACE@"))
        #expect(entry.stdout.contains("sysctl -w net.ipv4.conf.@IFACE@.forwarding=1"))
    }
}

@Suite("Alerts in a real journald", .enabled(if: isRoot, "needs root: runs its own systemd-journald in a private mount namespace"))
struct JournaldTests {
    static let finding = Finding(
        rule: "interface-forwarding-disabled", subject: "eth0", severity: .critical,
        message: "eth0 has forwarding disabled (net.ipv4.conf.eth0.forwarding=0) although net.ipv4.ip_forward=1.",
        fix: "sysctl -w net.ipv4.conf.eth0.forwarding=1", interface: "eth0",
        evidence: [Evidence("value", "0"), Evidence("in_addr_errors_per_second", "12.5")])

    @Test("raised, changed and resolved alerts and notices arrive with every field")
    func fieldsArrive() async throws {
        let identifier = uniqueIdentifier()
        let entries = try await PrivateJournald.run { journald in
            let sink = JournalAlertSink(journal: JournalWriter(identifier: identifier))
            var tracker = AlertTracker()
            var warning = Self.finding
            warning.severity = .warning
            sink.notice("fwdwatch started", id: JournalMessageID.started, priority: .notice)
            sink.emit(tracker.update([Self.finding], now: 0))
            sink.emit(tracker.update([warning], now: 1))
            sink.emit(tracker.update([], now: 42))
            #expect(sink.backlogCount == 0)
            return try journald.waitForEntries(identifier: identifier, count: 4)
        }
        try #require(entries.count == 4, "\(entries)")
        let rule = try #require(RuleRegistry.rule("interface-forwarding-disabled"))
        let (started, raised, changed, resolved) = (entries[0], entries[1], entries[2], entries[3])

        #expect(started["MESSAGE_ID"] == JournalMessageID.started)
        #expect(started["PRIORITY"] == "5")
        #expect(started["FWDWATCH_NOTICE"] == "1")

        #expect(raised["MESSAGE"] == Self.finding.message + " Fix: " + Self.finding.fix)
        #expect(raised["MESSAGE_ID"] == rule.messageID)
        #expect(raised["PRIORITY"] == "2")
        #expect(raised["IFACE"] == "eth0")
        #expect(raised["SYSLOG_IDENTIFIER"] == identifier)
        #expect(raised["FWDWATCH_RULE"] == "interface-forwarding-disabled")
        #expect(raised["FWDWATCH_STATE"] == "raised")
        #expect(raised["FWDWATCH_SUBJECT"] == "eth0")
        #expect(raised["FWDWATCH_SEVERITY"] == "critical")
        #expect(raised["FWDWATCH_FIX"] == Self.finding.fix)
        #expect(raised["FWDWATCH_VALUE"] == "0")
        #expect(raised["FWDWATCH_IN_ADDR_ERRORS_PER_SECOND"] == "12.5")
        #expect((raised["CODE_FILE"])?.hasSuffix("JournalAlertSink.swift") == true)
        #expect(Int(raised["CODE_LINE"] ?? "") != nil)
        #expect(raised["CODE_FUNC"] != nil)
        // Every field fwdwatch sent arrived (journald drops invalid names silently).
        for (name, value) in AlertFields.fields(for: AlertTransition(state: .raised, finding: Self.finding, raisedAt: 0, at: 0)) {
            #expect(raised[name] == value, "\(name)")
        }

        #expect(changed["FWDWATCH_STATE"] == "changed")
        #expect(changed["FWDWATCH_PREVIOUS_SEVERITY"] == "critical")
        #expect(changed["PRIORITY"] == "4")

        #expect(resolved["MESSAGE_ID"] == RuleRegistry.resolvedMessageID)
        #expect(resolved["PRIORITY"] == "5")
        #expect(resolved["FWDWATCH_DURATION_SECONDS"] == "42")
        #expect(resolved["IFACE"] == "eth0")
        #expect((resolved["MESSAGE"])?.hasPrefix("Resolved after 42s: ") == true)
    }

    @Test("journald stopped while alerts are sent: stderr shows them, the backlog arrives after the restart")
    func journaldOutage() async throws {
        let identifier = uniqueIdentifier()
        let fallback = LineRecorder()
        let subjects = ["eth0", "eth1", "eth2"]
        let (entries, backlogDuringOutage) = try await PrivateJournald.run { journald in
            let sink = JournalAlertSink(journal: JournalWriter(identifier: identifier), fallback: fallback.output)
            func alert(_ subject: String) -> AlertTransition {
                var finding = Self.finding
                finding.subject = subject
                finding.interface = subject
                return AlertTransition(state: .raised, finding: finding, raisedAt: 0, at: 0)
            }
            sink.emit([alert(subjects[0])])
            journald.stop()
            sink.emit([alert(subjects[1])])
            sink.emit([alert(subjects[2])])
            let backlog = sink.backlogCount
            try journald.start()
            let remaining = sink.retryBacklog()
            #expect(remaining == 0)
            return (try journald.waitForEntries(identifier: identifier, count: 4), backlog)
        }
        #expect(backlogDuringOutage == 2)
        let lines = fallback.all
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first?.contains("sending to journald failed") == true)
        #expect(lines.dropFirst().map { $0.contains("RAISED") } == [true, true])
        #expect(lines.dropFirst().enumerated().allSatisfy { $0.element.contains(subjects[$0.offset + 1]) })

        try #require(entries.count == 4, "\(entries)")
        #expect(entries.prefix(3).map { $0["FWDWATCH_SUBJECT"] } == subjects)
        #expect(entries.prefix(3).map { $0["FWDWATCH_DELIVERED_LATE"] } == [nil, "1", "1"])
        #expect(entries[1]["IFACE"] == "eth1")
        #expect(entries[1]["FWDWATCH_QUEUED_AT"] != nil)
        #expect(entries[3]["MESSAGE_ID"] == JournalMessageID.backlogDelivered)
        #expect(entries[3]["FWDWATCH_DELIVERED_COUNT"] == "2")
    }

    @Test("the log handler's lines arrive with priority, location and metadata")
    func logHandler() async throws {
        let identifier = uniqueIdentifier()
        let entries = try await PrivateJournald.run { journald in
            let logger = Logger(label: "fwdwatch.test") {
                JournalLogHandler(label: $0, journal: JournalWriter(identifier: identifier))
            }
            logger.error("cannot read /proc/net/snmp", metadata: ["proc.path": "/proc/net/snmp", "IFACE": "eth0"])
            return try journald.waitForEntries(identifier: identifier, count: 1)
        }
        let entry = try #require(entries.first)
        #expect(entry["MESSAGE"] == "cannot read /proc/net/snmp")
        #expect(entry["PRIORITY"] == "3")
        #expect(entry["FWDWATCH_PROC_PATH"] == "/proc/net/snmp")
        #expect(entry["IFACE"] == "eth0")
        #expect(entry["FWDWATCH_LOGGER"] == "fwdwatch.test")
        #expect((entry["CODE_FILE"])?.hasSuffix("JournalSystemTests.swift") == true)
    }
}
