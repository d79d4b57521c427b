import Foundation
import Testing

@testable import FwdwatchCore

@Suite struct DnatTargetNotAnsweringTests {
    let rule = DnatTargetNotAnswering()

    /// Docker's rules with the neighbour table read: the container 172.17.0.2 on docker0 and the
    /// uplink's gateway, both answering.
    static func host(target state: NeighbourState? = .reachable) -> DockerHost {
        var host = DockerHost.withRules()
        host.snapshot.neighbours = [
            Neighbour(interfaceIndex: 2, address: "192.0.2.1", state: .reachable, linkAddress: "52:54:00:00:00:01")
        ]
        if let state { host.setNeighbour("172.17.0.2", on: "docker0", state) }
        return host
    }

    /// The path of 10001/tcp from eth0.
    func path(_ host: DockerHost) throws -> PortPath {
        let view = host.view()
        let port = try #require(view.publishedPorts.first)
        return try #require(view.paths(of: port).first)
    }

    @Test("the container answers (REACHABLE): no finding; the path ends with a passing target-neighbour hop")
    func answering() throws {
        let host = Self.host()
        #expect(host.findings(of: rule).isEmpty)
        let last = try #require(try path(host).hops.last)
        #expect(last.name == .targetNeighbour)
        #expect(last.passes == true)
        #expect(last.detail == "172.17.0.2 on docker0 answers ARP (REACHABLE, 02:42:ac:11:00:02)")
        #expect(last.fix == nil)
    }

    @Test("every answering state passes", arguments: [NeighbourState.stale, .delay, .probe, .permanent])
    func answeringStates(_ state: NeighbourState) throws {
        let host = Self.host(target: state)
        #expect(host.findings(of: rule).isEmpty)
        #expect(try path(host).hops.last?.passes == true)
    }

    @Test("the container does not answer ARP (FAILED): a warning for 10001/tcp naming target, bridge and state")
    func failed() throws {
        let host = Self.host(target: .failed)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "dnat-target-not-answering")
        #expect(finding.subject == "10001/tcp")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "docker0")
        #expect(finding.message.contains("10001/tcp -> 172.17.0.2:80"))
        #expect(finding.message.contains("172.17.0.2 on docker0 does not answer ARP (FAILED)"))
        #expect(finding.fix.contains("docker ps --filter publish=10001"))
        #expect(finding.fix.contains("check the container behind 172.17.0.2 is running and its interface is up"))
        #expect(
            finding.evidenceByName == [
                "target": "172.17.0.2:80", "neighbour_state": "failed", "iface": "docker0", "ports": "10001/tcp",
            ])

        let hop = try #require(try path(host).hops.last)
        #expect(hop.name == .targetNeighbour)
        #expect(hop.passes == false)
        #expect(hop.detail == "172.17.0.2 on docker0 does not answer ARP (FAILED)")
        #expect(hop.fix == finding.fix)
    }

    @Test("INCOMPLETE (nobody answered yet) is reported too, after the settle time")
    func incomplete() throws {
        let finding = try onlyFinding(Self.host(target: .incomplete).findings(of: rule))
        #expect(finding.evidenceByName["neighbour_state"] == "incomplete")
        #expect(finding.message.contains("(INCOMPLETE)"))
        #expect(rule.settleSeconds == 5)
        #expect(AlertTracker.settleSeconds(of: RuleRegistry.all)[rule.id] == 5)
    }

    @Test("a dead container is this rule's: the port is broken, but published-port-unreachable stays silent")
    func notPublishedPortUnreachable() throws {
        let host = Self.host(target: .failed)
        let evaluation = host.evaluate()
        #expect(keys(evaluation) == ["dnat-target-not-answering 10001/tcp"])
        #expect(evaluation.status == .warning)
        let status = try #require(evaluation.publishedPorts.first)
        #expect(!status.reachable, "the port's path is broken at its target")
        #expect(status.paths.first?.firstBroken?.name == .targetNeighbour)
        #expect(status.paths.first?.isBrokenOnHost == false)
    }

    @Test("with the host's path broken too, both are named; the path stops at the host's hop")
    func hostPathBrokenToo() throws {
        var host = Self.host(target: .failed)
        host.setIPForward(0)
        let found = keys(host.evaluate())
        #expect(found.contains("dnat-target-not-answering 10001/tcp"))
        #expect(found.contains("published-port-unreachable 10001/tcp"))
        let path = try path(host)
        #expect(path.firstBroken?.name == .ipForwarding)
        #expect(!path.hops.contains { $0.name == .targetNeighbour })
    }

    @Test("no entry for the target yet (nothing was sent to it): undecided, no finding")
    func noEntry() throws {
        let host = Self.host(target: nil)
        #expect(host.findings(of: rule).isEmpty)
        let hop = try #require(try path(host).hops.last)
        #expect(hop.name == .targetNeighbour)
        #expect(hop.passes == nil)
        #expect(hop.detail.contains("no ARP entry for 172.17.0.2 on docker0"))
        #expect(try !path(host).isBroken)
    }

    @Test("neighbour table not read: no finding and no target-neighbour hop")
    func notRead() throws {
        var host = Self.host(target: .failed)
        host.snapshot.neighbours = nil
        #expect(host.findings(of: rule).isEmpty)
        #expect(try !path(host).hops.contains { $0.name == .targetNeighbour })
    }

    @Test("a FAILED entry for the address on another interface is not the target's")
    func otherInterface() {
        var host = Self.host(target: nil)
        host.setNeighbour("172.17.0.2", on: "eth0", .failed)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a target behind a gateway: the host asks for the gateway's address, so nothing is said about the target")
    func behindGateway() throws {
        var host = Self.host(target: .failed)
        host.removeRoutes("172.17.0.0/16")
        host.removeAddresses(of: "docker0")
        host.removePorts(of: "docker0")
        host.addRoute("172.17.0.0/16", via: "192.0.2.254", dev: "eth0")
        host.setNeighbour("172.17.0.2", on: "eth0", .failed)
        #expect(host.findings(of: rule).isEmpty)
        #expect(try !path(host).hops.contains { $0.name == .targetNeighbour })
    }

    @Test("no DNAT rules read: nothing to check")
    func noRules() {
        var host = Self.host(target: .failed)
        host.snapshot.firewall = nil
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("two ports published to one dead container: one finding each, both listing every port")
    func twoPorts() throws {
        var host = DockerHost.withRules(
            DockerRules.state(inserting: [
                (
                    table: "nat",
                    rule: "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10002 -j DNAT --to-destination 172.17.0.2:81"
                )
            ]))
        host.setNeighbour("172.17.0.2", on: "docker0", .failed)
        let findings = host.findings(of: rule)
        #expect(findings.map(\.subject) == ["10001/tcp", "10002/tcp"])
        #expect(findings.allSatisfy { $0.evidenceByName["ports"] == "10001/tcp,10002/tcp" })
    }

    @Test("a snapshot without the neighbours key (older JSON) decodes with the table not read; a table round-trips")
    func codable() throws {
        let old = try JSONEncoder().encode(Snapshot(links: [Link(index: 1, name: "lo")]))
        #expect(!String(decoding: old, as: UTF8.self).contains("neighbours"))
        #expect(try JSONDecoder().decode(Snapshot.self, from: old).neighbours == nil)

        let snapshot = Self.host(target: .failed).snapshot
        let decoded = try JSONDecoder().decode(Snapshot.self, from: try JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.neighbours?.last?.state == .failed)
    }
}

extension DockerHost {
    /// Sets (or adds) the neighbour entry for `address` on interface `name`; FAILED and INCOMPLETE
    /// entries have no link address, as the kernel reports them.
    mutating func setNeighbour(_ address: String, on name: String, _ state: NeighbourState) {
        let index = index(of: name)
        var table = snapshot.neighbours ?? []
        table.removeAll { $0.interfaceIndex == index && $0.address == address }
        table.append(
            Neighbour(
                interfaceIndex: index, address: address, state: state,
                linkAddress: state.answers == true ? "02:42:ac:11:00:02" : nil))
        snapshot.neighbours = table.sorted { ($0.interfaceIndex, $0.address) < ($1.interfaceIndex, $1.address) }
    }
}
