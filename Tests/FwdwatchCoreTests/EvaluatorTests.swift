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

@Suite("RuleRegistry")
struct RuleRegistryTests {
    private static func isKebabCase(_ id: String) -> Bool {
        let words = id.split(separator: "-", omittingEmptySubsequences: false)
        return !words.isEmpty
            && words.allSatisfy { word in
                !word.isEmpty && word.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
            }
    }

    private static func isMessageID(_ id: String) -> Bool {
        id.count == 32 && id.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    @Test("the checks themselves tell good from bad")
    func checkers() {
        #expect(Self.isKebabCase("bridge-down"))
        #expect(!Self.isKebabCase("Bridge-down"))
        #expect(!Self.isKebabCase("bridge_down"))
        #expect(!Self.isKebabCase("bridge--down"))
        #expect(!Self.isKebabCase("-bridge"))
        #expect(Self.isMessageID("5b1f0d7c7e3a4c55a1a0e3f46a7a0c01"))
        #expect(!Self.isMessageID("5B1F0D7C7E3A4C55A1A0E3F46A7A0C01"))
        #expect(!Self.isMessageID("5b1f0d7c-7e3a-4c55-a1a0-e3f46a7a0c01"))
    }

    /// Every rule with a test file under Rules/, in the registry's order: a new rule needs its tests.
    static let testedRules = [
        "ip-forwarding-disabled", "interface-forwarding-disabled", "default-forwarding-disabled", "bridge-down",
        "bridge-no-carrier", "bridge-no-address", "bridge-route-missing", "bridge-route-shadowed",
        "bridge-port-not-forwarding", "veth-detached", "default-route-missing", "rp-filter-strict-asymmetric",
        "conntrack-table-near-full", "bridge-nf-call-disabled", "in-addr-errors-rising",
        "published-port-unreachable", "forward-chain-blocks-bridge", "dnat-target-not-on-bridge",
        "dnat-target-not-answering", "dnat-rule-missing",
        "masquerade-missing",
    ]

    @Test("the registry holds exactly the tested rules, each with a unique kebab-case id")
    func ids() {
        let ids = RuleRegistry.all.map(\.id.rawValue)
        #expect(ids == Self.testedRules)
        #expect(Set(ids).count == ids.count)
        for id in ids { #expect(Self.isKebabCase(id), "\(id)") }
    }

    @Test("each rule has a unique 32-lower-hex MESSAGE_ID, distinct from the resolved one")
    func messageIDs() {
        let messageIDs = RuleRegistry.all.map(\.messageID)
        #expect(Set(messageIDs).count == messageIDs.count)
        #expect(Self.isMessageID(RuleRegistry.resolvedMessageID))
        #expect(!messageIDs.contains(RuleRegistry.resolvedMessageID))
        for rule in RuleRegistry.all { #expect(Self.isMessageID(rule.messageID), "\(rule.id): \(rule.messageID)") }
    }

    @Test("each rule has a title, and is found by its id")
    func titlesAndLookup() {
        for rule in RuleRegistry.all {
            #expect(rule.title.contains { !$0.isWhitespace }, "\(rule.id)")
            #expect(RuleRegistry.rule(rule.id)?.id == rule.id)
        }
        #expect(RuleRegistry.rule("no-such-rule") == nil)
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
