import Foundation
import Testing

/// `fwdwatch check --format nagios` parsed the way a monitoring plugin's output is: one status line
/// `SERVICE STATUS - text | perfdata`, perfdata items `'label'=value[UOM];[warn];[crit];[min];[max]`,
/// and an exit code that matches the status word.
@Suite struct NagiosFormatTests {
    struct PluginOutput {
        var status: String
        var text: String
        var performance: [String: (value: Double, warn: String, crit: String, min: String)]
    }

    /// A strict parser of the plugin output format (Nagios plugin guidelines, section "Plugin Output").
    static func parse(_ output: String) throws -> PluginOutput {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "exactly one line, newline-terminated")
        let line = String(lines[0])
        let pattern = /^FWDWATCH (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]*?)(?: \| (.*))?$/
        let match = try #require(line.wholeMatch(of: pattern), "not a plugin status line: \(line)")
        var performance: [String: (Double, String, String, String)] = [:]
        for item in (match.3.map(String.init) ?? "").split(separator: " ") {
            let item = try #require(
                item.wholeMatch(of: /'?([^'=]+)'?=(-?[0-9.]+)([a-zA-Z%]*);([0-9.:~@-]*);([0-9.:~@-]*);([0-9.-]*)(?:;([0-9.-]*))?/),
                "bad performance item \(item)")
            performance[String(item.1)] = (try #require(Double(item.2)), String(item.4), String(item.5), String(item.6))
        }
        return PluginOutput(status: String(match.1), text: String(match.2), performance: performance)
    }

    @Test(arguments: [
        ("healthy-docker-host", "OK", 0), ("incident", "CRITICAL", 2), ("default-route-missing", "WARNING", 1),
        ("bridge-no-carrier", "CRITICAL", 2), ("bridge-nf-call-disabled", "OK", 0),
    ])
    func statusLineAndPerformanceData(name: String, status: String, exit: Int32) throws {
        let result = try Shell.run(
            [fwdwatchBinary(), "check", "--format", "nagios", "--config", "/dev/null", "--snapshot", GoldenTests.snapshot(name)],
            check: false)
        #expect(result.status == exit)
        let output = try Self.parse(result.stdout)
        #expect(output.status == status)
        let json = try Shell.run(
            [fwdwatchBinary(), "check", "--json", "--config", "/dev/null", "--snapshot", GoldenTests.snapshot(name)],
            check: false)
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let findings = document?["findings"] as? [[String: Any]] ?? []
        #expect(output.performance["problems"]?.value == Double(findings.count))
        #expect(output.performance["critical"]?.value == Double(findings.count { $0["severity"] as? String == "critical" }))
        #expect(output.performance["warning"]?.value == Double(findings.count { $0["severity"] as? String == "warning" }))
        #expect(output.performance["ports"]?.value == Double(document?["ports"] as? Int ?? -1))
        if let worst = findings.first {
            #expect(output.text.hasPrefix("\(worst["rule"] as? String ?? "") \(worst["subject"] as? String ?? ""): "))
            #expect(output.text.contains("Fix: \(worst["fix"] as? String ?? "")"))
        } else {
            #expect(output.text == "no problems")
        }
    }

    @Test func couldNotEvaluateIsUnknownOnStdout() throws {
        let result = try Shell.run(
            [fwdwatchBinary(), "check", "--format", "nagios", "--config", "/dev/null", "--snapshot", "/nonexistent.json"],
            check: false)
        #expect(result.status == 3)
        let output = try Self.parse(result.stdout)
        #expect(output.status == "UNKNOWN")
        #expect(output.text.contains("/nonexistent.json"))
    }
}
