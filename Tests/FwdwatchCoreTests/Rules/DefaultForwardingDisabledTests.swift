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

// MARK: - Where the 0 comes back from

extension DefaultForwardingDisabledTests {
    @Test("the sysctl.d line that writes default.forwarding=0 is named, the glob one too")
    func source() throws {
        var host = DockerHost()
        host.setForwarding("default", 0)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.default.forwarding = 1\nnet.ipv4.conf.*.forwarding = 0", file: "/etc/sysctl.d/80-harden.conf")
        // The explicit line beats the glob: the file writes 1.
        #expect(try onlyFinding(host.findings(of: rule)).evidence("source") == nil)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.*.forwarding = 0", file: "/etc/sysctl.d/80-harden.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/sysctl.d/80-harden.conf:1")
        #expect(finding.message.hasSuffix(
            "It is set again by /etc/sysctl.d/80-harden.conf line 1 (net.ipv4.conf.*.forwarding = 0) at boot."))
        #expect(finding.fix.hasPrefix("sysctl -w net.ipv4.conf.default.forwarding=1; to make it last, in /etc/sysctl.d/80-harden.conf"))
    }
}
