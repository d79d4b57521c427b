import Foundation
import Testing

/// `fwdwatch run --log-target journal` with a real journald: the incident's alert arrives with its
/// structured fields and MESSAGE_ID, and the resolution with the resolution id.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct DaemonJournalTests {
    /// The daemon's journal entries, queried (not followed: journald wakes followers late).
    func entries(pid: Int32) throws -> [[String: Any]] {
        let result = try Shell.run(["journalctl", "--no-pager", "-o", "json", "_PID=\(pid)"], check: false)
        return result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func waitForEntry(pid: Int32, _ predicate: @escaping ([String: Any]) -> Bool) throws -> [String: Any]? {
        var found: [String: Any]?
        _ = try waitUntil(timeout: .seconds(15), interval: .milliseconds(50)) {
            found = try entries(pid: pid).first(where: predicate)
            return found != nil
        }
        return found
    }

    @Test func incidentAlertAndResolutionReachTheJournal() throws {
        let journald = try JournaldFixture.acquire()
        defer { journald.release() }
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host, logTarget: "journal")
        defer { daemon.stop() }
        let rule = "interface-forwarding-disabled"

        let started = try waitForEntry(pid: daemon.pid) { $0["MESSAGE_ID"] as? String == "870b1250c76d435da97f94f8a498e25c" }
        #expect(started != nil, "no started entry; stderr: \(daemon.stderr)")

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let raised = try waitForEntry(pid: daemon.pid) {
            $0["FWDWATCH_RULE"] as? String == rule && $0["FWDWATCH_STATE"] as? String == "raised"
        }
        #expect(raised?["MESSAGE_ID"] as? String == "3c6e1a8f0b7d4e2a8f5c9d1b7e4a2c02")
        #expect(raised?["PRIORITY"] as? String == "2")
        #expect(raised?["SYSLOG_IDENTIFIER"] as? String == "fwdwatch")
        #expect(raised?["IFACE"] as? String == "eth0")
        #expect(raised?["FWDWATCH_SUBJECT"] as? String == "eth0")
        #expect(raised?["FWDWATCH_SEVERITY"] as? String == "critical")
        #expect(raised?["FWDWATCH_SYSCTL"] as? String == "net.ipv4.conf.eth0.forwarding")
        #expect(raised?["FWDWATCH_VALUE"] as? String == "0")
        #expect((raised?["MESSAGE"] as? String)?.contains("sysctl -w net.ipv4.conf.eth0.forwarding=1") == true)

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        let resolved = try waitForEntry(pid: daemon.pid) {
            $0["FWDWATCH_RULE"] as? String == rule && $0["FWDWATCH_STATE"] as? String == "resolved"
        }
        #expect(resolved?["MESSAGE_ID"] as? String == "5b1f0d7c7e3a4c55a1a0e3f46a7a0c01")
        #expect(resolved?["FWDWATCH_DURATION_SECONDS"] != nil)
        #expect(daemon.stop()?.status == 0)
    }
}
