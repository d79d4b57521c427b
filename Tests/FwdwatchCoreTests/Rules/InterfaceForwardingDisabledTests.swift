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

// MARK: - Where the 0 comes back from

extension InterfaceForwardingDisabledTests {
    @Test("a sysctl.d line that writes eth0's 0 again is named in evidence, message and fix")
    func sysctlSource() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.snapshot.persistentSettings = [
            PersistentSetting(
                origin: .sysctl, file: "/etc/sysctl.conf", line: 1, setting: "forwarding", interfaces: ["all"], value: 1,
                text: "net.ipv4.ip_forward=1"),
            PersistentSetting(
                origin: .sysctl, file: "/etc/sysctl.d/60-uplink.conf", line: 3, setting: "forwarding",
                interfaces: ["eth0"], value: 0, text: "net.ipv4.conf.eth0.forwarding = 0"),
        ]
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/sysctl.d/60-uplink.conf:3")
        #expect(finding.message.hasSuffix(
            "It is set again by /etc/sysctl.d/60-uplink.conf line 3 (net.ipv4.conf.eth0.forwarding = 0) at boot "
                + "and whenever eth0 appears (udev runs systemd-sysctl for every new interface)."))
        #expect(finding.fix
            == "sysctl -w net.ipv4.conf.eth0.forwarding=1; to make it last, in /etc/sysctl.d/60-uplink.conf write 1 "
            + "instead of 0 on line 3 (net.ipv4.conf.eth0.forwarding = 0) or delete that line")
    }

    @Test("a .network file's IPv4Forwarding=no for the uplink: set it to yes and reload networkd")
    func networkdSource() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.snapshot.persistentSettings = [
            PersistentSetting(
                origin: .networkd, file: "/etc/systemd/network/10-uplink.network", line: 6, setting: "forwarding",
                interfaces: ["en*", "eth*"], value: 0, text: "IPv4Forwarding=no")
        ]
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/systemd/network/10-uplink.network:6")
        #expect(finding.message.contains("systemd-networkd writes it whenever it configures eth0"))
        #expect(finding.fix.hasSuffix(
            "replace line 6 (IPv4Forwarding=no) with IPv4Forwarding=yes, then run networkctl reload"))
    }

    @Test("a VLAN uplink is found by its slash key in a glob-free line")
    func vlanSource() throws {
        var host = DockerHost()
        host.addInterface("eth0.100", kind: "vlan", address: "198.51.100.2", prefixLength: 24)
        host.setForwarding("eth0.100", 0)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.eth0/100.forwarding = 0", file: "/etc/sysctl.d/70-vlan.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/sysctl.d/70-vlan.conf:1")
    }

    @Test("no source when the winning line writes 1, when none applies, or when the files were not read")
    func noSource() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        let plain = try onlyFinding(host.findings(of: rule))
        for settings in [
            [],
            PersistentSettingsFixture.sysctl(
                "net.ipv4.conf.eth0.forwarding = 0\nnet.ipv4.conf.eth0.forwarding = 1", file: "/etc/sysctl.d/a.conf"),
            PersistentSettingsFixture.sysctl("net.ipv4.conf.eth1.forwarding = 0", file: "/etc/sysctl.d/a.conf"),
        ] as [[PersistentSetting]] {
            host.snapshot.persistentSettings = settings
            let finding = try onlyFinding(host.findings(of: rule))
            #expect(finding == plain)
            #expect(finding.evidence("source") == nil)
        }
    }

    @Test("default.forwarding=0 in a file is named when nothing writes the interface itself")
    func inheritedSource() throws {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.default.forwarding = 0", file: "/usr/lib/sysctl.d/50-vendor.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/usr/lib/sysctl.d/50-vendor.conf:1")
        #expect(finding.message.contains("eth0 inherits net.ipv4.conf.default.forwarding whenever it is created again"))
        #expect(finding.fix.contains("copy /usr/lib/sysctl.d/50-vendor.conf to /etc/sysctl.d/50-vendor.conf"))
    }
}
