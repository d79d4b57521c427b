import Testing

@testable import FwdwatchCore

@Suite("default-forwarding-disabled")
struct DefaultForwardingDisabledTests {
    let rule = DefaultForwardingDisabled()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("default=0 while all=1 is a warning about interfaces created later")
    func defaultOff() throws {
        var host = DockerHost()
        host.setForwarding("default", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "default-forwarding-disabled")
        #expect(finding.subject == "net.ipv4.conf.default.forwarding")
        #expect(finding.severity == .warning)
        #expect(finding.interface == nil)
        #expect(finding.fix == "sysctl -w net.ipv4.conf.default.forwarding=1")
        #expect(finding.evidence("value") == "0")
        #expect(finding.evidence("all_forwarding") == "1")
        #expect(finding.message.contains("net.ipv4.conf.default.forwarding=0"))
        #expect(finding.message.contains("created from now on"))
    }

    @Test("with all=0 the host-wide rule speaks instead")
    func allOff() {
        var host = DockerHost()
        host.setIPForward(0)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("an unreadable default.forwarding gives no finding")
    func unknown() {
        var host = DockerHost()
        host.setForwarding("default", nil)
        #expect(host.findings(of: rule).isEmpty)
    }
}
