import Foundation
import FwdwatchMetrics
import Testing

/// `<dir>/fwdwatch.prom` for node_exporter: atomic, at most once a second, at once on a change.
@Suite struct TextfileTests {
    func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-textfile-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func writesAtomicallyAndLeavesNoTemporaryFile() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var textfile = MetricsTextfile(directory: directory)
        #expect(textfile.path == directory + "/fwdwatch.prom")
        let outcome = textfile.update(now: .now, problemStateChanged: false) { "fwdwatch_up 1\n" }
        #expect(outcome == .quiet)
        #expect(contents(textfile.path) == "fwdwatch_up 1\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["fwdwatch.prom"])
        let mode = try FileManager.default.attributesOfItem(atPath: textfile.path)[.posixPermissions] as? Int
        #expect(mode == 0o644, "node_exporter runs as another user")
    }

    @Test func atMostOncePerIntervalButAlwaysOnAChange() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var textfile = MetricsTextfile(directory: directory, minimumInterval: .seconds(1))
        let start = ContinuousClock.now
        _ = textfile.update(now: start, problemStateChanged: false) { "a 1\n" }
        _ = textfile.update(now: start + .milliseconds(500), problemStateChanged: false) { "a 2\n" }
        #expect(contents(textfile.path) == "a 1\n", "skipped: within the interval, nothing changed")
        _ = textfile.update(now: start + .milliseconds(600), problemStateChanged: true) { "a 3\n" }
        #expect(contents(textfile.path) == "a 3\n", "written: the problem state changed")
        _ = textfile.update(now: start + .milliseconds(1599), problemStateChanged: false) { "a 4\n" }
        #expect(contents(textfile.path) == "a 3\n")
        _ = textfile.update(now: start + .milliseconds(1600), problemStateChanged: false) { "a 5\n" }
        #expect(contents(textfile.path) == "a 5\n", "written: a second since the last write")
    }

    @Test func aFailureIsReportedOnceAndRetried() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = directory + "/not-yet"
        var textfile = MetricsTextfile(directory: missing)
        let start = ContinuousClock.now
        guard case .failed(let reason) = textfile.update(now: start, problemStateChanged: false, text: { "b 1\n" })
        else {
            Issue.record("a write into a missing directory did not fail")
            return
        }
        #expect(reason.contains(missing) && reason.contains("No such file or directory"), "\(reason)")
        #expect(textfile.update(now: start + .seconds(2), problemStateChanged: false) { "b 2\n" } == .quiet)
        #expect(textfile.update(now: start + .milliseconds(2100), problemStateChanged: false) { "b 3\n" } == .quiet)
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        #expect(
            textfile.update(now: start + .milliseconds(2200), problemStateChanged: false) { "b 4\n" } == .recovered,
            "retried at the next evaluation, not a second later")
        #expect(contents(textfile.path) == "b 4\n")
    }
}
