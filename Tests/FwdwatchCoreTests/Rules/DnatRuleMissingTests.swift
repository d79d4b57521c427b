import Testing

@testable import FwdwatchCore

@Suite struct DnatRuleMissingTests {
    let rule = DnatRuleMissing()

    @Test("Docker's rules: the accepted container port is published, no finding")
    func healthy() {
        #expect(DockerHost.withRules().findings(of: rule).isEmpty)
    }

    @Test("the DNAT deleted, Docker's accept left: the container port is named with the accept rule")
    func dnatDeleted() throws {
        let host = DockerHost.withRules(DockerRules.state(dropping: { $0.contains("-j DNAT") }))
        #expect(host.view().publishedPorts.isEmpty)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "172.17.0.2:80/tcp")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.evidenceByName["accept_rule"] == "iptables-nft ip filter DOCKER #1")
        #expect(finding.message.contains("no DNAT rule publishes it"))
    }

    @Test("the whole nat table flushed: the same finding (and masquerade-missing is not this rule's job)")
    func natFlushed() throws {
        let host = DockerHost.withRules(
            DockerRules.state(dropping: { $0.hasPrefix("-A") && ($0.contains("DNAT") || $0.contains("MASQUERADE") || $0.contains("RETURN") && $0.contains("-i docker0")) }))
        #expect(try onlyFinding(host.findings(of: rule)).subject == "172.17.0.2:80/tcp")
    }

    @Test("an accept to a whole subnet or to an interface that is not a bridge is not a container port")
    func notAContainerPort() {
        let host = DockerHost.withRules(
            DockerRules.state(inserting: [
                (table: "filter", rule: "-A DOCKER-USER -d 172.17.0.0/16 -o docker0 -p tcp -m tcp --dport 443 -j ACCEPT"),
                (table: "filter", rule: "-A DOCKER-USER -d 192.0.2.20/32 -o eth0 -p tcp -m tcp --dport 443 -j ACCEPT"),
            ]))
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a DNAT that keeps the port (no :port) publishes the same port")
    func dnatKeepingThePort() {
        let host = DockerHost.withRules(
            DockerRules.state(
                dropping: { $0.contains("-j DNAT") },
                inserting: [(table: "nat", rule: "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2")]))
        #expect(host.findings(of: rule).isEmpty)
    }
}
