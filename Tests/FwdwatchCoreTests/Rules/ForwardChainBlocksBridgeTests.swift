import Foundation
import FwdwatchFirewall
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchCore

@Suite struct ForwardChainBlocksBridgeTests {
    let rule = ForwardChainBlocksBridge()

    @Test("Docker's rules on a healthy host: the forward chain accepts, no finding")
    func healthy() {
        #expect(DockerHost.withRules().findings(of: rule).isEmpty)
    }

    @Test("without the rules there is nothing to say")
    func noRules() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("a DOCKER-USER drop on the uplink: docker0 named, with the port, the ingress and the dropping rule")
    func dockerUserDrop() throws {
        let host = DockerHost.withRules(DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -i eth0 -j DROP")]))
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "docker0")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.evidenceByName["ports"] == "10001/tcp")
        #expect(finding.evidenceByName["ingress"] == "eth0")
        #expect(finding.evidenceByName["dropped_by"]?.contains("DOCKER-USER #1") == true)
        #expect(finding.message.contains("10001/tcp -> 172.17.0.2:80"))
        #expect(finding.fix.hasPrefix("iptables -I DOCKER-USER -i eth0 -o docker0 -d 172.17.0.2 -p tcp --dport 80 -j ACCEPT"))
    }

    @Test("the policy DROP without Docker's accept rule")
    func policyDrop() throws {
        let host = DockerHost.withRules(DockerRules.state(dropping: { $0.hasPrefix("-A DOCKER -d 172.17.0.2/32") }))
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["dropped_by"]?.contains("policy DROP") == true)
    }

    @Test("reported even while an earlier hop hides it from published-port-unreachable")
    func independentOfEarlierHops() throws {
        var host = DockerHost.withRules(DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -i eth0 -j DROP")]))
        host.setForwarding("eth0", 0)
        #expect(try onlyFinding(host.findings(of: PublishedPortUnreachable())).evidenceByName["hop"] == "ingress-forwarding")
        #expect(try onlyFinding(host.findings(of: rule)).subject == "docker0")
    }

    @Test("with the bridge route gone, the bridge holding the target's subnet is still the one named")
    func routeGone() throws {
        var host = DockerHost.withRules(DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -o docker0 -j DROP")]))
        host.removeRoutes("172.17.0.0/16")
        #expect(try onlyFinding(host.findings(of: rule)).subject == "docker0")
    }

    @Test("a drop limited to one client network is undecided, not an alarm")
    func sourceSpecificDrop() {
        let host = DockerHost.withRules(
            DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -s 203.0.113.0/24 -j DROP")]))
        #expect(host.findings(of: rule).isEmpty)
    }
}

/// The forward hook written with verdict maps (Docker 29's nftables mode, firewalld): the walk follows
/// the map's elements like rules.
@Suite struct VerdictMapWalkTests {
    /// Docker's nat rules (the DNAT of 10001/tcp) with `vmaps.nft` as the only forward filter.
    func host(_ edit: (String) -> String = { $0 }) throws -> DockerHost {
        let nat = DockerRules.state().tables.filter { $0.name == "nat" }
        let filter = NftablesRulesetParser.parse(edit(try RecordedFixture.text("firewall/nft-vmaps.json")))
        #expect(filter.problems == [])
        return DockerHost.withRules(FirewallState(tables: nat + filter.tables))
    }

    @Test("eth0 -> jump from-eth0 -> goto to-docker -> 172.17.0.2 . 80 : accept")
    func accepted() throws {
        let host = try host()
        let path = try #require(host.view().portPaths.first?.first)
        let forward = path.hops.first { $0.name == .forwardChain }
        #expect(forward?.passes == true, "\(forward?.detail ?? "no forward-chain hop")")
        #expect(host.findings(of: ForwardChainBlocksBridge()).isEmpty)
    }

    @Test("the element for the container says drop: named with the map element")
    func droppedByElement() throws {
        let host = try host { $0.replacingOccurrences(of: #"[{"concat": ["172.17.0.2", 80]}, {"accept": null}]"#, with: #"[{"concat": ["172.17.0.2", 80]}, {"drop": null}]"#) }
        let finding = try onlyFinding(host.findings(of: ForwardChainBlocksBridge()))
        #expect(finding.evidenceByName["dropped_by"]?.contains("to-docker #1 (vmap element") == true, "\(finding.evidenceByName)")
        #expect(try onlyFinding(host.findings(of: PublishedPortUnreachable())).evidenceByName["hop"] == "forward-chain")
    }
}
