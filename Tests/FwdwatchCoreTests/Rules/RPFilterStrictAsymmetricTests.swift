import Testing

@testable import FwdwatchCore

@Suite("rp-filter-strict-asymmetric")
struct RPFilterStrictAsymmetricTests {
    let rule = RPFilterStrictAsymmetric()

    /// The healthy host with a secondary uplink eth1; the default route leaves by eth0.
    private func twoUplinks(allRPFilter: Int, eth1RPFilter: Int) -> DockerHost {
        var host = DockerHost()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.setRPFilter("all", allRPFilter)
        host.setRPFilter("eth1", eth1RPFilter)
        return host
    }

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
        #expect(twoUplinks(allRPFilter: 2, eth1RPFilter: 2).findings(of: rule).isEmpty)
    }

    @Test("strict rp_filter on a secondary uplink is a warning, fixed by loose mode on it")
    func strictSecondary() throws {
        let host = twoUplinks(allRPFilter: 0, eth1RPFilter: 1)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "rp-filter-strict-asymmetric")
        #expect(finding.subject == "eth1")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "eth1")
        #expect(
            finding.evidenceByName == [
                "sysctl": "net.ipv4.conf.eth1.rp_filter", "value": "1", "all_rp_filter": "0",
                "default_route_interface": "eth0",
            ])
        #expect(finding.fix == "sysctl -w net.ipv4.conf.eth1.rp_filter=2  # loose mode")
        #expect(finding.message.contains("eth1 filters by strict reverse path"))
        #expect(finding.message.contains("default route leaves by eth0"))
    }

    @Test("all=1 makes an interface at 0 strict, and the fix must lower all too")
    func strictAll() throws {
        let host = twoUplinks(allRPFilter: 1, eth1RPFilter: 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "eth1")
        #expect(finding.evidence("value") == "0")
        #expect(finding.evidence("all_rp_filter") == "1")
        #expect(
            finding.fix
                == "sysctl -w net.ipv4.conf.all.rp_filter=2 && sysctl -w net.ipv4.conf.eth1.rp_filter=2  # loose mode")
    }

    @Test("the larger value wins: all=2 makes a strict interface loose, and a loose interface stays loose under all=1")
    func looseWins() {
        #expect(twoUplinks(allRPFilter: 2, eth1RPFilter: 1).findings(of: rule).isEmpty)
        #expect(twoUplinks(allRPFilter: 1, eth1RPFilter: 2).findings(of: rule).isEmpty)
    }

    @Test("strict on the default route's own interface, or on a bridge, is symmetric enough")
    func strictOnEgressOrBridge() {
        var host = DockerHost()
        host.setRPFilter("all", 1)
        host.setRPFilter("eth0", 1)
        host.setRPFilter("docker0", 1)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("the best default route decides which interface is the egress")
    func bestDefault() throws {
        var host = twoUplinks(allRPFilter: 0, eth1RPFilter: 2)
        host.setMetric("0.0.0.0/0", dev: "eth0", 200)
        host.addRoute("0.0.0.0/0", via: "198.51.100.1", dev: "eth1", metric: 100)
        host.setRPFilter("eth0", 1)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "eth0")
        #expect(finding.evidence("default_route_interface") == "eth1")
    }

    @Test("without a default route there is no return path to compare")
    func noDefault() {
        var host = twoUplinks(allRPFilter: 0, eth1RPFilter: 1)
        host.removeRoutes("0.0.0.0/0")
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a VLAN uplink's sysctl key has the dot turned into a slash")
    func vlan() throws {
        var host = DockerHost()
        host.addInterface("eth0.100", kind: "vlan", address: "198.51.100.2", prefixLength: 24)
        host.setRPFilter("all", 0)
        host.setRPFilter("eth0.100", 1)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.fix == "sysctl -w net.ipv4.conf.eth0/100.rp_filter=2  # loose mode")
    }

    @Test("down or ignored interfaces give no finding")
    func downOrIgnored() {
        var host = twoUplinks(allRPFilter: 0, eth1RPFilter: 1)
        #expect(host.findings(of: rule, settings: Settings(ignoredInterfaces: [Glob("eth1")])).isEmpty)
        host.modifyLink("eth1") { $0.adminUp = false; $0.carrier = false; $0.operState = "down" }
        #expect(host.findings(of: rule).isEmpty)
    }
}

// MARK: - Where strict mode comes back from

extension RPFilterStrictAsymmetricTests {
    @Test("a glob line that makes every new interface strict is named, with how to override the vendor file")
    func globSource() throws {
        var host = twoUplinks(allRPFilter: 0, eth1RPFilter: 1)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.default.rp_filter = 2\nnet.ipv4.conf.*.rp_filter = 1", file: "/usr/lib/sysctl.d/50-default.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/usr/lib/sysctl.d/50-default.conf:2")
        #expect(finding.message.contains(
            "It is set again by /usr/lib/sysctl.d/50-default.conf line 2 (net.ipv4.conf.*.rp_filter = 1) at boot and whenever eth1 appears"))
        #expect(finding.fix
            == "sysctl -w net.ipv4.conf.eth1.rp_filter=2  # loose mode; to make it last, copy "
            + "/usr/lib/sysctl.d/50-default.conf to /etc/sysctl.d/50-default.conf (it overrides the original) and in "
            + "the copy write 2 instead of 1 on line 2 (net.ipv4.conf.*.rp_filter = 1) or delete that line")
    }

    @Test("strict all and strict eth1 from two lines: both are named")
    func twoSources() throws {
        var host = twoUplinks(allRPFilter: 1, eth1RPFilter: 1)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.eth1.rp_filter = 1", file: "/etc/sysctl.d/10-rp.conf")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("source") == "/etc/sysctl.d/10-rp.conf:2,/etc/sysctl.d/10-rp.conf:1")
        #expect(finding.message.contains("(net.ipv4.conf.all.rp_filter = 1) at boot."))
        #expect(finding.fix.hasPrefix("sysctl -w net.ipv4.conf.all.rp_filter=2 && sysctl -w net.ipv4.conf.eth1.rp_filter=2"))
    }

    @Test("a file that writes loose mode is no source of the strict value")
    func looseLine() throws {
        var host = twoUplinks(allRPFilter: 0, eth1RPFilter: 1)
        host.snapshot.persistentSettings = PersistentSettingsFixture.sysctl(
            "net.ipv4.conf.*.rp_filter = 2", file: "/usr/lib/sysctl.d/50-default.conf")
        #expect(try onlyFinding(host.findings(of: rule)).evidence("source") == nil)
    }
}
