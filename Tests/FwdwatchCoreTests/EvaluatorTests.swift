import Testing

@testable import FwdwatchCore

@Suite("Evaluator")
struct EvaluatorTests {
    /// A host broken five ways, at every severity.
    private func brokenHost() -> DockerHost {
        var host = DockerHost()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.setForwarding("eth1", 0)  // critical
        host.setForwarding("eth0", 0)  // critical
        host.removeRoutes("172.17.0.0/16")  // critical
        host.setForwarding("default", 0)  // warning
        host.setConntrack(count: 95, max: 100)  // warning
        host.snapshot.bridgeNetfilter?.callIptables = 0  // info
        return host
    }

    @Test("a healthy Docker host is ok with exit code 0")
    func healthy() {
        let evaluation = DockerHost().evaluate()
        #expect(evaluation.findings.isEmpty)
        #expect(evaluation.worst == nil)
        #expect(evaluation.status == .ok)
        #expect(evaluation.status.exitCode == 0)
    }

    @Test("findings come critical first, then warning, then info; by rule, then subject, within one")
    func ordering() {
        let evaluation = brokenHost().evaluate()
        #expect(
            keys(evaluation) == [
                "bridge-route-missing 172.17.0.0/16",
                "interface-forwarding-disabled eth0",
                "interface-forwarding-disabled eth1",
                "conntrack-table-near-full nf_conntrack",
                "default-forwarding-disabled net.ipv4.conf.default.forwarding",
                "bridge-nf-call-disabled net.bridge.bridge-nf-call-iptables",
            ])
        #expect(evaluation.count(.critical) == 3)
        #expect(evaluation.count(.warning) == 2)
        #expect(evaluation.count(.info) == 1)
        #expect(evaluation.worst == .critical)
    }

    @Test("info only is ok (exit 0), a warning is exit 1, a critical is exit 2")
    func statusMapping() {
        var info = DockerHost()
        info.snapshot.bridgeNetfilter?.callIptables = 0
        let infoOnly = info.evaluate()
        #expect(infoOnly.worst == .info)
        #expect(infoOnly.status == .ok)
        #expect(infoOnly.status.exitCode == 0)

        var warning = info
        warning.setForwarding("default", 0)
        #expect(warning.evaluate().status == .warning)
        #expect(warning.evaluate().status.exitCode == 1)

        var critical = warning
        critical.setForwarding("eth0", 0)
        #expect(critical.evaluate().status == .critical)
        #expect(critical.evaluate().status.exitCode == 2)
        #expect(CheckStatus.unknown.exitCode == 3)
    }

    @Test("bridges and ports are counted over watched bridges, empty bridges included")
    func counts() {
        var host = DockerHost()
        host.addBridge("br-app", address: "172.18.0.1", prefixLength: 16, ports: ["veth2", "veth3"])
        host.addBridge("br-idle", address: "172.19.0.1", prefixLength: 16, ports: [])
        let all = host.evaluate()
        #expect(all.bridges == 3)
        #expect(all.ports == 3)
        #expect(all.findings.isEmpty)

        let userNetworks = host.evaluate(Settings(watchedBridges: [Glob("br-*")]))
        #expect(userNetworks.bridges == 2)
        #expect(userNetworks.ports == 2)
    }

    @Test("disabled rules produce nothing; the others still run")
    func disabledRules() {
        let settings = Settings(disabledRules: ["interface-forwarding-disabled", "bridge-nf-call-disabled"])
        #expect(
            keys(brokenHost().evaluate(settings)) == [
                "bridge-route-missing 172.17.0.0/16",
                "conntrack-table-near-full nf_conntrack",
                "default-forwarding-disabled net.ipv4.conf.default.forwarding",
            ])
    }

    @Test("a severity override replaces the rule's severity, and the order and status follow")
    func severityOverrides() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        host.snapshot.bridgeNetfilter?.callIptables = 0
        let settings = Settings(severityOverrides: [
            "interface-forwarding-disabled": .warning, "bridge-nf-call-disabled": .critical,
        ])
        let evaluation = host.evaluate(settings)
        #expect(
            evaluation.findings.map { "\($0.rule) \($0.severity)" } == [
                "bridge-nf-call-disabled critical", "interface-forwarding-disabled warning",
            ])
        #expect(evaluation.status == .critical)
    }

    @Test("an override also replaces a severity the rule chose itself (conntrack critical)")
    func overrideRuleChosenSeverity() throws {
        var host = DockerHost()
        host.setConntrack(count: 99, max: 100)
        let evaluation = host.evaluate(Settings(severityOverrides: ["conntrack-table-near-full": .info]))
        #expect(try onlyFinding(evaluation.findings).severity == .info)
        #expect(evaluation.status == .ok)
    }

    @Test("findings about an ignored interface are dropped; host-wide findings stay")
    func ignoredInterfaces() {
        var host = DockerHost()
        host.setBridgeDown()
        host.setConntrack(count: 95, max: 100)
        #expect(keys(host.evaluate()) == ["bridge-down docker0", "conntrack-table-near-full nf_conntrack"])
        #expect(
            keys(host.evaluate(Settings(ignoredInterfaces: [Glob("docker*")])))
                == ["conntrack-table-near-full nf_conntrack"])
    }

    @Test("the evaluator runs exactly the registry's rules by default")
    func defaultRules() {
        #expect(Evaluator().rules.map(\.id) == RuleRegistry.all.map(\.id))
    }
}

@Suite("Evaluation without the firewall rules")
struct FirewallUnavailableTests {
    @Test("the reason reaches the evaluation and the text report, so an OK does not hide the skipped checks")
    func reasonIsReported() {
        var host = DockerHost()
        host.snapshot.firewallUnavailable = "iptables-save: Permission denied (you must be root)"
        let evaluation = host.evaluate()
        #expect(evaluation.status == .ok)
        #expect(evaluation.firewallUnavailable == host.snapshot.firewallUnavailable)
        #expect(Report.text(evaluation).contains("published-port checks are off: iptables-save: Permission denied"))
    }

    @Test("read rules: no such line")
    func rulesRead() {
        let evaluation = DockerHost.withRules().evaluate()
        #expect(evaluation.firewallUnavailable == nil)
        #expect(!Report.text(evaluation).contains("checks are off"))
    }
}
