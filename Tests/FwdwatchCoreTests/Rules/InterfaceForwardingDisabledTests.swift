import Testing

@testable import FwdwatchCore

@Suite("interface-forwarding-disabled")
struct InterfaceForwardingDisabledTests {
    let rule = InterfaceForwardingDisabled()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("the incident: eth0 at 0 with all=1 is critical, with the per-interface fix")
    func incident() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "interface-forwarding-disabled")
        #expect(finding.subject == "eth0")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "eth0")
        #expect(finding.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(finding.evidence("sysctl") == "net.ipv4.conf.eth0.forwarding")
        #expect(finding.evidence("value") == "0")
        #expect(finding.evidence("all_forwarding") == "1")
        #expect(finding.message.contains("net.ipv4.conf.eth0.forwarding=0"))
        #expect(finding.message.contains("ip_forward=1"))
        #expect(finding.message.contains("Writing ip_forward=1 again and restarting Docker do not repair"))
        #expect(finding.message.contains("InAddrErrors"))
        #expect(finding.message.contains("arriving on eth0"))
    }

    @Test("the incident as reported (lo at 0 too) gives exactly one finding, for eth0, and exit code 2")
    func incidentThroughEvaluator() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.setForwarding("lo", 0)
        let evaluation = host.evaluate()
        #expect(keys(evaluation) == ["interface-forwarding-disabled eth0"])
        #expect(evaluation.status == .critical)
        #expect(evaluation.status.exitCode == 2)
    }

    @Test("docker0 at 0 blocks the containers' outgoing traffic, and the message says so")
    func bridgeAtZero() throws {
        var host = DockerHost()
        host.setForwarding("docker0", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "docker0")
        #expect(finding.interface == "docker0")
        #expect(finding.fix == "sysctl -w net.ipv4.conf.docker0.forwarding=1")
        #expect(finding.message.contains("from the containers or VMs on docker0"))
    }

    @Test("a VLAN uplink's sysctl key has the dot turned into a slash")
    func vlanName() throws {
        var host = DockerHost()
        host.addInterface("eth0.100", kind: "vlan", address: "198.51.100.2", prefixLength: 24)
        host.setForwarding("eth0.100", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "eth0.100")
        #expect(finding.interface == "eth0.100")
        #expect(finding.evidence("sysctl") == "net.ipv4.conf.eth0/100.forwarding")
        #expect(finding.fix == "sysctl -w net.ipv4.conf.eth0/100.forwarding=1")
    }

    @Test("every ingress interface at 0 gets its own finding")
    func twoUplinks() {
        var host = DockerHost()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.setForwarding("eth0", 0)
        host.setForwarding("eth1", 0)
        #expect(host.findings(of: rule).map(\.subject).sorted() == ["eth0", "eth1"])
    }

    @Test("with all=0 this rule stays silent: ip-forwarding-disabled speaks")
    func allOff() {
        var host = DockerHost()
        host.setIPForward(0)
        #expect(host.findings(of: rule).isEmpty)
        #expect(keys(host.evaluate()) == ["ip-forwarding-disabled net.ipv4.conf.all.forwarding"])
    }

    @Test("with all unreadable this rule stays silent")
    func allUnknown() {
        var host = DockerHost()
        host.setForwarding("all", nil)
        host.setForwarding("eth0", 0)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a bridge without ports needs no forwarding: no finding")
    func noContainers() {
        var host = DockerHost()
        host.removePorts()
        host.setForwarding("eth0", 0)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("the drop sample appears as evidence")
    func dropEvidence() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.recordDrops(inAddrErrors: 25, seconds: 10)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("in_addr_errors") == "25")
        #expect(finding.evidence("in_addr_errors_per_second") == "2.5")
        #expect(finding.evidence("sample_seconds") == "10")
    }

    @Test("no drop evidence when nothing was dropped")
    func noDrops() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.recordDrops(inAddrErrors: 0, forwDatagrams: 10)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("in_addr_errors") == nil)
    }

    @Test("loopback, bridge ports, down links and links without IPv4 are not ingress interfaces")
    func notIngress() {
        var host = DockerHost()
        host.setForwarding("lo", 0)
        host.setForwarding("veth1", 0)
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.modifyLink("eth1") { $0.carrier = false; $0.operState = "down" }
        host.setForwarding("eth1", 0)
        host.addInterface("eth2", address: "203.0.113.10", prefixLength: 24)
        host.removeAddresses(of: "eth2")
        host.setForwarding("eth2", 0)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("an ignored interface gives no finding")
    func ignored() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        let settings = Settings(ignoredInterfaces: [Glob("eth*")])
        #expect(host.findings(of: rule, settings: settings).isEmpty)
        #expect(host.evaluate(settings).findings.isEmpty)
    }

    @Test("when no watched bridge has ports, nothing needs forwarding")
    func unwatchedBridge() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*")])).isEmpty)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("docker?")])).count == 1)
    }
}
