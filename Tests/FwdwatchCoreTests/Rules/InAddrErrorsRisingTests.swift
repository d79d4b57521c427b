import Testing

@testable import FwdwatchCore

@Suite("in-addr-errors-rising")
struct InAddrErrorsRisingTests {
    let rule = InAddrErrorsRising()

    @Test("a healthy Docker host gives no finding, with or without a quiet drop sample")
    func healthy() {
        var host = DockerHost()
        #expect(host.findings(of: rule).isEmpty)
        host.recordDrops(inAddrErrors: 0, forwDatagrams: 500)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("drops that no forwarding setting explains are a warning with the sample as evidence")
    func unexplained() throws {
        var host = DockerHost()
        host.recordDrops(inAddrErrors: 30, seconds: 10)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "in-addr-errors-rising")
        #expect(finding.subject == "Ip:InAddrErrors")
        #expect(finding.severity == .warning)
        #expect(finding.interface == nil)
        #expect(
            finding.evidenceByName == [
                "in_addr_errors": "30", "in_addr_errors_per_second": "3", "sample_seconds": "10",
            ])
        #expect(finding.message.contains("dropped 30 packets (3/s)"))
        #expect(finding.message.contains("no forwarding setting explains it"))
        #expect(finding.fix.hasPrefix("nstat -az IpInAddrErrors"))
    }

    @Test("an ingress interface at forwarding=0 explains the drops: only that rule speaks")
    func explainedByInterface() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.recordDrops(inAddrErrors: 30)
        #expect(host.findings(of: rule).isEmpty)
        #expect(keys(host.evaluate()) == ["interface-forwarding-disabled eth0"])
    }

    @Test("ip_forward=0 explains the drops")
    func explainedByAll() {
        var host = DockerHost()
        host.setIPForward(0)
        host.recordDrops(inAddrErrors: 30)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("with no container the forwarding rules are silent, so the drops are reported here")
    func noContainers() throws {
        var host = DockerHost()
        host.removePorts()
        host.setForwarding("eth0", 0)
        host.recordDrops(inAddrErrors: 30)
        #expect(try onlyFinding(host.findings(of: rule)).subject == "Ip:InAddrErrors")
    }

    @Test("forwarding=0 on an interface that is not ingress (a bridge port) explains nothing")
    func portAtZero() {
        var host = DockerHost()
        host.setForwarding("veth1", 0)
        host.recordDrops(inAddrErrors: 30)
        #expect(host.findings(of: rule).count == 1)
    }

    @Test("an ignored uplink at forwarding=0 still explains the drops: ignoring hides findings, not causes")
    func ignoredUplinkExplains() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.recordDrops(inAddrErrors: 30)
        let settings = Settings(ignoredInterfaces: [Glob("eth*")])
        #expect(host.findings(of: rule, settings: settings).isEmpty)
        #expect(host.evaluate(settings).findings.isEmpty)
    }
}
