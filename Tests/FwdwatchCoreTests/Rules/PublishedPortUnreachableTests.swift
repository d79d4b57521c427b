import Testing

@testable import FwdwatchCore

@Suite struct PublishedPortUnreachableTests {
    let rule = PublishedPortUnreachable()

    @Test("Docker's rules on a healthy host: 10001/tcp -> 172.17.0.2:80 is reachable from eth0, no finding")
    func healthy() throws {
        let host = DockerHost.withRules()
        let ports = host.view().publishedPorts
        #expect(ports.map(\.subject) == ["10001/tcp"])
        #expect(ports.first?.destination == "172.17.0.2:80")
        let paths = host.view().paths(of: try #require(ports.first))
        #expect(paths.map(\.ingress) == ["eth0"], "docker0 is excluded by ! -i docker0")
        #expect(paths.allSatisfy { !$0.isBroken }, "\(paths)")
        #expect(paths.first?.hops.map(\.name) == [
            .ipForwarding, .ingressForwarding, .route, .egressLink, .egressForwarding, .bridgePorts, .forwardChain,
            .conntrack,
        ])
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("the incident: eth0 forwarding=0 breaks the port at ingress-forwarding, with the exact fix")
    func incident() throws {
        var host = DockerHost.withRules()
        host.setForwarding("eth0", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "10001/tcp")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "eth0")
        #expect(finding.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(
            finding.message.hasPrefix(
                "Published port 10001/tcp -> 172.17.0.2:80 is unreachable from eth0 because net.ipv4.conf.eth0.forwarding=0"))
        #expect(finding.evidenceByName["hop"] == "ingress-forwarding")
        // The interface finding names the port it cuts off.
        let interface = try onlyFinding(host.findings(of: InterfaceForwardingDisabled()))
        #expect(interface.evidenceByName["ports"] == "10001/tcp")
    }

    @Test("ip_forward=0 breaks it at the first hop")
    func hostForwardingOff() throws {
        var host = DockerHost.withRules()
        host.setIPForward(0)
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["hop"] == "ip-forwarding")
        #expect(try onlyFinding(host.findings(of: IPForwardingDisabled())).evidenceByName["ports"] == "10001/tcp")
    }

    @Test("FORWARD policy DROP without Docker's accept rule: dropped by the policy")
    func policyDropWithoutAccept() throws {
        var host = DockerHost.withRules(DockerRules.state(dropping: { $0.hasPrefix("-A DOCKER -d 172.17.0.2/32") }))
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["hop"] == "forward-chain")
        #expect(finding.message.contains("policy DROP"))
        host.setForwarding("eth0", 0)  // the earlier hop is reported first
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["hop"] == "ingress-forwarding")
    }

    @Test("a DOCKER-USER drop for the uplink names the rule that drops")
    func dockerUserDrop() throws {
        let host = DockerHost.withRules(DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -i eth0 -j DROP")]))
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["hop"] == "forward-chain")
        #expect(finding.message.contains("DOCKER-USER #1"))
    }

    @Test("a DOCKER-USER drop limited to one source is undecided, not an alarm")
    func sourceSpecificDropIsNotAnAlarm() {
        let host = DockerHost.withRules(
            DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -s 203.0.113.0/24 -j DROP")]))
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("an accept rule fwdwatch cannot decide makes a policy drop undecided, not an alarm")
    func uncertainAcceptIsNotAnAlarm() {
        let host = DockerHost.withRules(
            DockerRules.state(
                dropping: { $0.hasPrefix("-A DOCKER -d 172.17.0.2/32") },
                inserting: [(table: "filter", rule: "-A DOCKER-USER -s 198.51.100.0/24 -j ACCEPT")]))
        let paths = host.view().paths(of: host.view().publishedPorts[0])
        let forward = paths.first?.hops.first { $0.name == .forwardChain }
        #expect(forward != nil)
        #expect(forward?.passes == nil)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("the bridge down: broken at egress-link with the fix that brings it up")
    func bridgeDown() throws {
        var host = DockerHost.withRules()
        host.setBridgeDown()
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["hop"] == "egress-link")
        #expect(finding.fix == "ip link set dev docker0 up")
    }

    @Test("the bridge route deleted: the target is routed back out of eth0; the fix re-adds the route")
    func routeMissing() throws {
        var host = DockerHost.withRules()
        host.removeRoutes("172.17.0.0/16")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["hop"] == "route")
        #expect(finding.fix == "ip route add 172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1")
    }

    @Test("no forwarding port on the bridge")
    func noForwardingPort() throws {
        var host = DockerHost.withRules()
        host.setPortState("veth1", .blocking)
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["hop"] == "bridge-ports")
    }

    @Test("a full conntrack table drops new connections: broken at conntrack, with the limit to raise")
    func conntrackFull() throws {
        var host = DockerHost.withRules()
        host.setConntrack(count: 262_144, max: 262_144)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["hop"] == "conntrack")
        #expect(finding.message.contains("nf_conntrack 262144 of 262144: full"))
        #expect(finding.fix.hasPrefix("sysctl -w net.netfilter.nf_conntrack_max=524288"))
        host.setConntrack(count: 262_000, max: 262_144)  // near full is conntrack-table-near-full's to say
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("forwarding=0 on the bridge breaks the replies")
    func bridgeForwardingOff() throws {
        var host = DockerHost.withRules()
        host.setForwarding("docker0", 0)
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["hop"] == "egress-forwarding")
    }

    @Test("a second uplink with strict rp_filter: broken from there only, eth0 stays fine")
    func strictReversePathOnSecondUplink() throws {
        var host = DockerHost.withRules()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.setRPFilter("eth1", 1)
        #expect(host.findings(of: rule).isEmpty, "all.rp_filter=2 makes eth1 loose: the kernel takes the maximum")
        host.setRPFilter("all", 0)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidenceByName["ingress"] == "eth1")
        #expect(finding.evidenceByName["hop"] == "rp-filter")
    }

    @Test("without the rules (no CAP_NET_ADMIN) nothing is said about ports")
    func noRules() {
        var host = DockerHost()
        host.setForwarding("eth0", 0)
        #expect(host.findings(of: rule).isEmpty)
        #expect(host.view().publishedPorts.isEmpty)
    }

    @Test("an ignored ingress interface is not reported")
    func ignoredIngress() {
        var host = DockerHost.withRules()
        host.setForwarding("eth0", 0)
        #expect(host.findings(of: rule, settings: Settings(ignoredInterfaces: [Glob("eth0")])).isEmpty)
    }
}
