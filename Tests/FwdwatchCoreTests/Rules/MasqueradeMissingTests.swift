import Testing

@testable import FwdwatchCore

@Suite struct MasqueradeMissingTests {
    let rule = MasqueradeMissing()
    static let masquerade = "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"

    @Test("Docker's MASQUERADE covers docker0's subnet towards eth0")
    func healthy() {
        #expect(DockerHost.withRules().findings(of: rule).isEmpty)
    }

    @Test("the MASQUERADE rule gone (a firewall reload): warning for the subnet, with the rule to add")
    func missing() throws {
        let host = DockerHost.withRules(DockerRules.state(dropping: { $0 == Self.masquerade }))
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "172.17.0.0/16")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "docker0")
        #expect(finding.evidenceByName["uplink"] == "eth0")
        #expect(finding.fix.hasPrefix("iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"))
    }

    @Test("a MASQUERADE for another subnet, or only out of another interface, does not count")
    func wrongRule() {
        let otherSubnet = DockerHost.withRules(
            DockerRules.state(
                dropping: { $0 == Self.masquerade },
                inserting: [(table: "nat", rule: "-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE")]))
        #expect(otherSubnet.findings(of: rule).count == 1)
        let otherInterface = DockerHost.withRules(
            DockerRules.state(
                dropping: { $0 == Self.masquerade },
                inserting: [(table: "nat", rule: "-A POSTROUTING -s 172.17.0.0/16 -o wg0 -j MASQUERADE")]))
        #expect(otherInterface.findings(of: rule).count == 1)
    }

    @Test("no NAT table at all (a routed design) or no rules read: nothing to say")
    func noNAT() {
        let noNat = DockerHost.withRules(DockerRules.state(dropping: { _ in true }))
        #expect(noNat.findings(of: rule).isEmpty)
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("a bridge without ports is not checked")
    func noPorts() {
        var host = DockerHost.withRules(DockerRules.state(dropping: { $0 == Self.masquerade }))
        host.removePorts()
        #expect(host.findings(of: rule).isEmpty)
    }
}
