import Foundation
import Testing

/// End-to-end golden tests: the real `fwdwatch check --snapshot` on snapshots recorded from the real kernel
/// (scripts/record-fixtures.sh), diffed against the expected report and exit status.
/// `UPDATE_EXPECTED=1 swift test --filter GoldenTests` rewrites the expected files; review the diff.
@Suite struct GoldenTests {
    static let directory = packageRoot() + "/Tests/FwdwatchIntegrationTests/Golden"
    static let update = ProcessInfo.processInfo.environment["UPDATE_EXPECTED"] == "1"

    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".snapshot.json") }
            .map { String($0.dropLast(".snapshot.json".count)) }.sorted()
    }

    /// What each recorded case must at least show, so a wrong expected file cannot hide a broken rule.
    static let mustFind: [String: (rule: String?, exit: Int32)] = [
        "healthy-docker-host": (nil, 0),
        "incident": ("interface-forwarding-disabled  eth0", 2),
        "ip-forwarding-disabled": ("ip-forwarding-disabled  net.ipv4.conf.all.forwarding", 2),
        "default-forwarding-disabled": ("default-forwarding-disabled  net.ipv4.conf.default.forwarding", 1),
        "bridge-down": ("bridge-down  docker0", 2),
        "bridge-no-address": ("bridge-no-address  docker0", 2),
        "bridge-no-carrier": ("bridge-no-carrier  docker0", 2),
        "bridge-route-missing": ("bridge-route-missing  172.17.0.0/16", 2),
        "bridge-route-shadowed": ("bridge-route-shadowed  172.17.0.0/16", 2),
        "bridge-port-not-forwarding": ("bridge-port-not-forwarding  docker0/veth2", 2),
        "default-route-missing": ("default-route-missing  0.0.0.0/0", 1),
        "veth-detached": ("veth-detached  veth2", 1),
        "forward-policy-drop-without-accept": ("published-port-unreachable  10001/tcp", 2),
        "docker-user-drop": ("published-port-unreachable  10001/tcp", 2),
        "masquerade-missing": ("masquerade-missing  172.17.0.0/16", 1),
        "rp-filter-strict-asymmetric": ("rp-filter-strict-asymmetric  eth1", 2),
        "conntrack-table-near-full": ("conntrack-table-near-full  nf_conntrack", 1),
        "bridge-nf-call-disabled": ("bridge-nf-call-disabled  net.bridge.bridge-nf-call-iptables", 0),
        "in-addr-errors-rising": ("in-addr-errors-rising  Ip:InAddrErrors", 1),
    ]

    @Test func everyRecordedCaseIsChecked() {
        #expect(Set(Self.cases) == Set(Self.mustFind.keys))
    }

    @Test(arguments: cases)
    func reportMatchesExpected(name: String) throws {
        let snapshot = "\(Self.directory)/\(name).snapshot.json"
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
        if let must = Self.mustFind[name] {
            #expect(result.status == must.exit)
            if let rule = must.rule { #expect(result.stdout.contains(rule)) }
        }
    }

    @Test func incidentReportNamesTheFixAndTheEvidence() throws {
        let result = try Shell.run(
            [fwdwatchBinary(), "check", "--config", "/dev/null", "--json", "--snapshot", "\(Self.directory)/incident.snapshot.json"],
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
