import Foundation
import FwdwatchFirewall
import Testing

@testable import FwdwatchCore

/// How published ports and their ingresses come out of the nat flow, on the recorded two-network Docker
/// host (Fixtures/stacks/docker-20.10-two-networks) and variants of its rules.
@Suite("Port discovery")
struct PortDiscoveryTests {
    static func twoNetworks(editing edit: (String) -> String? = { $0 }) throws -> Snapshot {
        let host = try StackHost.load("docker-20.10-two-networks")
        let reading = try #require(host.readings.first)
        let text = try host.text(try #require(reading.iptablesSave))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { edit(String($0)) }
        var snapshot = host.hostSnapshot()
        snapshot.firewall = IptablesSaveParser.parse(lines.joined(separator: "\n"), backend: .iptablesNFT)
        return snapshot
    }

    static func ingresses(_ snapshot: Snapshot) -> [String: [String]] {
        let host = HostView(snapshot)
        var result: [String: [String]] = [:]
        for (port, links) in zip(host.publishedPorts, host.portIngresses) { result[port.subject] = links.map(\.name) }
        return result
    }

    @Test("Docker RETURNs its own bridges' traffic before the DNATs: each port's only ingress is the uplink")
    func returnRulesKeepBridgesOut() throws {
        let snapshot = try Self.twoNetworks()
        #expect(Self.ingresses(snapshot) == ["10001/tcp": ["eth0"], "10003/tcp": ["eth0"]])
        #expect(Evaluator().evaluate(snapshot).findings.filter { $0.severity >= .warning } == [])
    }

    @Test("without the RETURN rules (--userland-proxy=false) the other network reaches the DNAT, but Docker's isolation drop is by design: no ingress, no finding")
    func isolationByDesignIsNoIngress() throws {
        let snapshot = try Self.twoNetworks { line in
            if line.hasPrefix("-A DOCKER -i ") && line.hasSuffix("-j RETURN") { return nil }
            return line.replacingOccurrences(of: "-A DOCKER ! -i docker0 -p tcp", with: "-A DOCKER -p tcp")
                .replacingOccurrences(of: "-A DOCKER ! -i br-dba83f1add7a -p tcp", with: "-A DOCKER -p tcp")
        }
        let host = HostView(snapshot)
        #expect(host.publishedPorts.count == 2)
        #expect(Self.ingresses(snapshot) == ["10001/tcp": ["eth0"], "10003/tcp": ["eth0"]])
        #expect(Evaluator().evaluate(snapshot).findings.filter { $0.severity >= .warning } == [])
    }

    @Test("a drop the operator adds between the networks is not the engine's design: named")
    func operatorsDropBetweenNetworksIsNamed() throws {
        let snapshot = try Self.twoNetworks { line in
            line == "-A DOCKER-USER -j RETURN" ? "-A DOCKER-USER -o br-dba83f1add7a -j DROP\n" + line : line
        }
        let findings = Evaluator().evaluate(snapshot).findings
        #expect(findings.contains { $0.rule == "published-port-unreachable" && $0.subject == "10003/tcp" })
        #expect(!findings.contains { $0.subject == "10001/tcp" })
        #expect(findings.contains { $0.rule == "forward-chain-blocks-bridge" && $0.subject == "br-dba83f1add7a" })
    }

    @Test("a path that only matches a non-local destination (a ClusterIP) is no published port")
    func clusterIPIsNotPublished() throws {
        let snapshot = try Self.twoNetworks { line in
            line == "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"
                ? line + "\n-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 172.17.0.9:53"
                : line
        }
        #expect(Set(Self.ingresses(snapshot).keys) == ["10001/tcp", "10003/tcp"])
    }

    @Test("an undecidable rule forks the walk: a drop that depends on the client's address is undecided, not broken")
    func undecidableRuleForks() throws {
        let snapshot = try Self.twoNetworks { line in
            line == "-A DOCKER-USER -j RETURN" ? "-A DOCKER-USER -s 198.51.100.0/24 -j DROP\n" + line : line
        }
        let host = HostView(snapshot)
        let path = try #require(host.portPaths.first?.first)
        let hop = try #require(path.hops.first { $0.name == .forwardChain })
        #expect(hop.passes == nil, "\(hop.detail)")
        #expect(Evaluator().evaluate(snapshot).findings.filter { $0.severity >= .warning } == [])
    }
}
