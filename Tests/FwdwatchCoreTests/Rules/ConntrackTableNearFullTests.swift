import Testing

@testable import FwdwatchCore

@Suite("conntrack-table-near-full")
struct ConntrackTableNearFullTests {
    let rule = ConntrackTableNearFull()

    private func host(count: UInt64, max: UInt64) -> DockerHost {
        var host = DockerHost()
        host.setConntrack(count: count, max: max)
        return host
    }

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
        #expect(host(count: 89, max: 100).findings(of: rule).isEmpty)
    }

    @Test("90% full is a warning, with the fill, the counts and a doubled maximum as the fix")
    func warning() throws {
        let finding = try onlyFinding(host(count: 235_930, max: 262_144).findings(of: rule))
        #expect(finding.rule == "conntrack-table-near-full")
        #expect(finding.subject == "nf_conntrack")
        #expect(finding.severity == .warning)
        #expect(finding.interface == nil)
        #expect(finding.evidenceByName == ["count": "235930", "max": "262144", "fill_percent": "90"])
        #expect(finding.fix.hasPrefix("sysctl -w net.netfilter.nf_conntrack_max=524288"))
        #expect(finding.message.contains("90% full (235930 of 262144)"))
    }

    @Test("just under 90% is quiet")
    func justUnder() {
        #expect(host(count: 235_929, max: 262_144).findings(of: rule).isEmpty)
    }

    @Test("the thresholds are inclusive: 90 of 100 warns, 98 of 100 is critical", arguments: [
        (UInt64(90), Severity.warning), (97, .warning), (98, .critical), (100, .critical),
    ])
    func thresholds(count: UInt64, severity: Severity) throws {
        let finding = try onlyFinding(host(count: count, max: 100).findings(of: rule))
        #expect(finding.severity == severity)
        #expect(finding.evidence("fill_percent") == String(count))
    }

    @Test("a fractional fill is shown with two decimals")
    func fractional() throws {
        let finding = try onlyFinding(host(count: 9_995, max: 10_000).findings(of: rule))
        #expect(finding.evidence("fill_percent") == "99.95")
        #expect(finding.severity == .critical)
    }

    @Test("the thresholds come from the settings")
    func customThresholds() throws {
        let settings = Settings(conntrackWarningRatio: 0.5, conntrackCriticalRatio: 0.75)
        #expect(host(count: 49, max: 100).findings(of: rule, settings: settings).isEmpty)
        #expect(try onlyFinding(host(count: 50, max: 100).findings(of: rule, settings: settings)).severity == .warning)
        #expect(try onlyFinding(host(count: 75, max: 100).findings(of: rule, settings: settings)).severity == .critical)
    }

    @Test("an absurd maximum from a recorded snapshot is reported, not fatal")
    func hugeMaximum() async {
        await #expect(processExitsWith: .success) {
            var host = DockerHost()
            host.setConntrack(count: .max, max: .max)
            _ = host.findings(of: ConntrackTableNearFull())
        }
    }

    @Test("no conntrack, or a zero maximum, gives no finding")
    func absent() {
        var unloaded = DockerHost()
        unloaded.snapshot.conntrack = nil
        #expect(unloaded.findings(of: rule).isEmpty)
        #expect(host(count: 5, max: 0).findings(of: rule).isEmpty)
    }
}
