import Foundation
import FwdwatchCore
import Testing

/// End-to-end golden tests: the real `fwdwatch check --snapshot` on snapshots recorded from the real kernel
/// (scripts/record-fixtures.sh), diffed against the expected report and exit status.
/// `UPDATE_EXPECTED=1 swift test --filter GoldenTests` rewrites the expected files; review the diff.
@Suite struct GoldenTests {
    /// The golden cases in the source tree (not a bundle copy: the binary reads them by path, and
    /// UPDATE_EXPECTED rewrites their expected reports in place). Every test that runs the binary on one asks here.
    static let directory = packageRoot() + "/Tests/FwdwatchIntegrationTests/Golden"

    /// The path of golden case `name`'s snapshot ("incident" -> .../Golden/incident.snapshot.json).
    static func snapshot(_ name: String) -> String { "\(directory)/\(name).snapshot.json" }
    static let update = ProcessInfo.processInfo.environment["UPDATE_EXPECTED"] == "1"

    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".snapshot.json") }
            .map { String($0.dropLast(".snapshot.json".count)) }.sorted()
    }

    /// What a case must at least show, so a wrong expected file cannot hide a broken rule. A case named after a
    /// rule (`bridge-down`) must report that rule at its default severity or worse; the cases named otherwise say
    /// here which findings they must show (the header line's "rule  subject") and their exit status.
    static let otherCases: [String: (findings: [String], exit: Int32)] = [
        "healthy-docker-host": ([], 0),
        "incident": (["interface-forwarding-disabled  eth0"], 2),
        "forward-policy-drop-without-accept": (["published-port-unreachable  10001/tcp"], 2),
        "docker-user-drop": (["forward-chain-blocks-bridge  docker0", "published-port-unreachable  10001/tcp"], 2),
    ]

    static let ruleIDs = RuleRegistry.all.map(\.id.rawValue)

    @Test func everyRecordedCaseIsChecked() {
        let unchecked = Set(Self.cases).subtracting(Self.ruleIDs).subtracting(Self.otherCases.keys)
        #expect(unchecked.isEmpty, "name the case after its rule, or add it to otherCases")
        #expect(Set(Self.otherCases.keys).isSubset(of: Self.cases))
    }

    /// Every rule in the registry has a golden case that must report it: one named after it, or one of
    /// `otherCases` that names it. Add a case with scripts/record-fixtures.sh (record or derive it).
    @Test func everyRuleHasAGoldenCase() {
        let required = Set(Self.cases).intersection(Self.ruleIDs)
            .union(Self.otherCases.values.flatMap(\.findings).map { String($0.prefix { $0 != " " }) })
        for id in Self.ruleIDs {
            #expect(required.contains(id), "rule \(id) has no golden case in \(Self.directory)")
        }
    }

    /// The severity label of a finding's header line in the text report ("CRITICAL  bridge-down  docker0").
    static func reported(_ rule: any Rule, in report: String) -> Bool {
        let worse = Severity.allCases.filter { $0 >= rule.defaultSeverity }.map { $0.rawValue.uppercased() }
        return report.split(separator: "\n").contains { line in
            worse.contains { line.hasPrefix("\($0)  \(rule.id.rawValue)  ") }
        }
    }

    @Test(arguments: cases)
    func reportMatchesExpected(name: String) throws {
        let snapshot = Self.snapshot(name)
        let result = try Shell.run(
            [fwdwatchBinary(), "check", "--config", "/dev/null", "--snapshot", snapshot], check: false)
        let actual = result.stdout + "exit status: \(result.status)\n"
        let expectedPath = "\(Self.directory)/\(name).expected.txt"
        if Self.update {
            try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8)
        #expect(actual == expected, "rerun with UPDATE_EXPECTED=1 to rewrite \(expectedPath) and review the diff")
        #expect(result.stderr.isEmpty)
        if let rule = RuleRegistry.rule(RuleID(rawValue: name)) {
            #expect(Self.reported(rule, in: result.stdout), "\(name) does not report \(name)")
            let least: Int32 = rule.defaultSeverity == .critical ? 2 : rule.defaultSeverity == .warning ? 1 : 0
            #expect(result.status >= least)
        } else if let must = Self.otherCases[name] {
            #expect(result.status == must.exit)
            for finding in must.findings { #expect(result.stdout.contains("  \(finding)"), "\(finding)") }
        }
    }

    @Test func incidentReportNamesTheFixAndTheEvidence() throws {
        let result = try Shell.run(
            [fwdwatchBinary(), "check", "--config", "/dev/null", "--json", "--snapshot", Self.snapshot("incident")],
            check: false)
        #expect(result.status == 2)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let findings = document?["findings"] as? [[String: Any]] ?? []
        let incident = findings.first { $0["rule"] as? String == "interface-forwarding-disabled" }
        #expect(incident?["subject"] as? String == "eth0")
        #expect(incident?["severity"] as? String == "critical")
        #expect(incident?["fix"] as? String == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        let evidence = incident?["evidence"] as? [[String: String]] ?? []
        // The recording sent pings through the broken uplink: the drop counter grew.
        #expect(evidence.contains { $0["name"] == "in_addr_errors" && Int($0["value"] ?? "0")! > 0 })
    }
}
