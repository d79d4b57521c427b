import Testing

@testable import FwdwatchCore

@Suite("ip-forwarding-disabled")
struct IPForwardingDisabledTests {
    let rule = IPForwardingDisabled()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("ip_forward=0 with a container on docker0 is critical")
    func off() throws {
        var host = DockerHost()
        host.setIPForward(0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "ip-forwarding-disabled")
        #expect(finding.subject == "net.ipv4.conf.all.forwarding")
        #expect(finding.severity == .critical)
        #expect(finding.interface == nil)
        #expect(finding.fix == "sysctl -w net.ipv4.ip_forward=1")
        #expect(finding.evidence("sysctl") == "net.ipv4.conf.all.forwarding")
        #expect(finding.evidence("value") == "0")
        #expect(finding.evidence("bridges") == "docker0")
        #expect(finding.message.contains("net.ipv4.ip_forward=0"))
        #expect(finding.message.contains("bridge docker0 has ports"))
    }

    @Test("only all=0 matters: interfaces left at 1 do not keep the host forwarding")
    func onlyAllOff() throws {
        var host = DockerHost()
        host.setForwarding("all", 0)
        #expect(try onlyFinding(host.findings(of: rule)).subject == "net.ipv4.conf.all.forwarding")
    }

    @Test("every bridge with ports is named, bridges without ports are not")
    func bridgesNamed() throws {
        var host = DockerHost()
        host.addBridge("br-app", address: "172.18.0.1", prefixLength: 16, ports: ["veth2"])
        host.addBridge("br-idle", address: "172.19.0.1", prefixLength: 16, ports: [])
        host.setIPForward(0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("bridges") == "br-app,docker0")
        #expect(finding.message.contains("br-app, docker0"))
        #expect(!finding.message.contains("br-idle"))
    }

    @Test("the drop sample appears as evidence")
    func dropEvidence() throws {
        var host = DockerHost()
        host.setIPForward(0)
        host.recordDrops(inAddrErrors: 7, seconds: 2)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("in_addr_errors") == "7")
        #expect(finding.evidence("in_addr_errors_per_second") == "3.5")
        #expect(finding.evidence("sample_seconds") == "2")
    }

    @Test("a host with no containers does not need forwarding: no finding")
    func noContainers() {
        var host = DockerHost()
        host.removePorts()
        host.setIPForward(0)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("an unreadable all.forwarding gives no finding")
    func unknown() {
        var host = DockerHost()
        host.setForwarding("all", nil)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("only watched bridges count")
    func watchedBridges() {
        var host = DockerHost()
        host.setIPForward(0)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*")])).isEmpty)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*"), Glob("docker*")])).count == 1)
    }
}

// MARK: - Where the 0 comes back from

extension IPForwardingDisabledTests {
    @Test("a file that writes ip_forward=0 is named; sysctl.conf's later ip_forward=1 wins over it")
    func source() throws {
        var host = DockerHost()
        host.setIPForward(0)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.ip_forward = 0", file: "/etc/sysctl.d/99-salt.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/sysctl.d/99-salt.conf:1")
        #expect(finding.message.hasSuffix("It is set again by /etc/sysctl.d/99-salt.conf line 1 (net.ipv4.ip_forward = 0) at boot."))
        #expect(finding.fix.hasPrefix("sysctl -w net.ipv4.ip_forward=1; to make it last"))
        host.snapshot.persistentSettings! += PersistentSettingsFixture.sysctl("net.ipv4.ip_forward=1", file: "/etc/sysctl.conf")
        #expect(try onlyFinding(host.findings(of: rule)).evidence("source") == nil)
    }
}
