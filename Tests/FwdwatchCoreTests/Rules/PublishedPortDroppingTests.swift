import Foundation
import Testing

@testable import FwdwatchCore

extension DockerHost {
    /// Records what the drop probe counted over `seconds`: `packets` to `destination:port` (conntrack's original
    /// tuple unless `beforeDNAT` is false) arriving on `ingress`, for `reason`, from `clients`.
    mutating func recordProbeDrops(
        _ packets: UInt64, reason: String, ingress: String = "eth0", destination: String = "192.0.2.10",
        port: UInt16 = 10001, transport: String = "tcp", beforeDNAT: Bool = true, clients: [String] = ["198.51.100.7"],
        seconds: Double = 10
    ) {
        let flow = DropFlow(
            ingressIndex: index(of: ingress), reason: reason, transport: transport, destination: destination,
            destinationPort: port, beforeDNAT: beforeDNAT)
        var reading = snapshot.drops ?? DropReading(seconds: seconds)
        reading.counts.append(DropCount(flow: flow, packets: packets, clients: clients, lastSeen: 1_000))
        snapshot.drops = reading
    }
}

@Suite("published-port-dropping")
struct PublishedPortDroppingTests {
    let rule = PublishedPortDropping()

    @Test("a healthy host: no finding without drops, nor with a drop reading that holds nothing")
    func healthy() {
        var host = DockerHost.withRules()
        #expect(host.findings(of: rule).isEmpty)
        host.snapshot.drops = DropReading(seconds: 10)
        #expect(host.findings(of: rule).isEmpty)
        #expect(host.evaluate().findings.isEmpty)
    }

    @Test("drops no modelled hop explains (an nft drop fwdwatch cannot decide) are a warning with the victims")
    func unexplained() throws {
        var host = DockerHost.withRules()
        host.recordProbeDrops(6, reason: "NETFILTER_DROP", clients: ["198.51.100.7", "192.0.2.99", "192.0.2.100"])
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "published-port-dropping")
        #expect(finding.subject == "10001/tcp")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "eth0")
        #expect(
            finding.evidenceByName == [
                "drops": "6", "drop_reason": "NETFILTER_DROP", "drop_clients": "192.0.2.99,192.0.2.100,198.51.100.7",
                "drops_per_second": "0.6", "drop_seconds": "10", "ingress": "eth0", "target": "172.17.0.2:80",
            ])
        #expect(
            finding.message.hasPrefix(
                "6 packets from 3 clients (192.0.2.99, 192.0.2.100, 198.51.100.7) to published port 10001/tcp -> "
                    + "172.17.0.2:80 were dropped on eth0 in the last 10 s (NETFILTER_DROP: a firewall rule dropped it)"))
        #expect(finding.fix.contains("nft -a list ruleset"))
        #expect(keys(host.evaluate()) == ["published-port-dropping 10001/tcp"])
    }

    @Test("at 5 packets per second or more it is critical")
    func criticalRate() throws {
        var host = DockerHost.withRules()
        host.recordProbeDrops(50, reason: "NETFILTER_DROP", seconds: 10)
        #expect(try onlyFinding(host.findings(of: rule)).severity == .critical)
        host.snapshot.drops = nil
        host.recordProbeDrops(49, reason: "NETFILTER_DROP", seconds: 10)
        #expect(try onlyFinding(host.findings(of: rule)).severity == .warning)
    }

    @Test("the incident: forwarding=0 on eth0 explains IP_INADDRERRORS; the drops become evidence of its findings")
    func incidentIsExplained() throws {
        var host = DockerHost.withRules()
        host.setForwarding("eth0", 0)
        host.recordProbeDrops(2, reason: "IP_INADDRERRORS", clients: ["192.0.2.1"], seconds: 2)
        #expect(host.findings(of: rule).isEmpty)
        let evaluation = host.evaluate()
        #expect(keys(evaluation) == ["interface-forwarding-disabled eth0", "published-port-unreachable 10001/tcp"])
        for finding in evaluation.findings {
            #expect(finding.evidenceByName["drops"] == "2", "\(finding.key)")
            #expect(finding.evidenceByName["drop_reason"] == "IP_INADDRERRORS", "\(finding.key)")
            #expect(finding.evidenceByName["drop_clients"] == "192.0.2.1", "\(finding.key)")
        }
    }

    @Test("a DOCKER-USER drop the model decides is forward-chain-blocks-bridge's, with the drops as evidence")
    func forwardChainExplains() throws {
        var host = DockerHost.withRules(DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -i eth0 -j DROP")]))
        host.recordProbeDrops(3, reason: "NETFILTER_DROP")
        #expect(host.findings(of: rule).isEmpty)
        let blocked = try onlyFinding(host.findings(of: ForwardChainBlocksBridge()))
        #expect(blocked.evidenceByName["drops"] == "3")
        #expect(blocked.evidenceByName["drop_reason"] == "NETFILTER_DROP")
    }

    @Test("a drop fwdwatch cannot decide (it depends on the client's network) is caught by its victims")
    func undecidedDropIsCaught() throws {
        var host = DockerHost.withRules(
            DockerRules.state(inserting: [(table: "filter", rule: "-A DOCKER-USER -s 198.51.100.0/24 -j DROP")]))
        #expect(host.evaluate().findings.isEmpty, "undecided: no alarm from the model")
        host.recordProbeDrops(3, reason: "NETFILTER_DROP", clients: ["198.51.100.7"])
        let finding = try onlyFinding(host.evaluate().findings)
        #expect(finding.key.description == "published-port-dropping 10001/tcp")
        #expect(finding.evidenceByName["drop_clients"] == "198.51.100.7")
    }

    @Test("strict rp_filter on the ingress explains IP_RPFILTER drops")
    func rpFilterExplains() throws {
        var host = DockerHost.withRules()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.setRPFilter("all", 0)  // the kernel applies the larger of all and the interface's own
        host.setRPFilter("eth1", 1)
        host.recordProbeDrops(4, reason: "IP_RPFILTER", ingress: "eth1", destination: "198.51.100.10")
        #expect(host.findings(of: rule).isEmpty)
        let strict = try onlyFinding(host.findings(of: RPFilterStrictAsymmetric()))
        #expect(strict.evidenceByName["drops"] == "4")
        #expect(strict.evidenceByName["drop_reason"] == "IP_RPFILTER")
        // Loose again: the same drops are unexplained.
        host.setRPFilter("eth1", 2)
        #expect(try onlyFinding(host.findings(of: rule)).evidenceByName["ingress"] == "eth1")
    }

    @Test("traffic to a port nobody publishes, or to an address the host does not hold, is no finding")
    func unpublishedTraffic() {
        var host = DockerHost.withRules()
        host.recordProbeDrops(40, reason: "NETFILTER_DROP", port: 9999)
        host.recordProbeDrops(40, reason: "NO_SOCKET", port: 10001, transport: "udp")
        host.recordProbeDrops(40, reason: "IP_INNOROUTES", destination: "203.0.113.5")
        #expect(DropAttribution.observations(host.view()).isEmpty)
        #expect(host.findings(of: rule).isEmpty)
        #expect(host.evaluate().findings.isEmpty)
    }

    @Test("a packet without a connection shows the target after DNAT: it maps back to the published port")
    func targetMapsBack() throws {
        var host = DockerHost.withRules()
        host.recordProbeDrops(2, reason: "NEIGH_QUEUEFULL", destination: "172.17.0.2", port: 80, beforeDNAT: false)
        let observation = try #require(DropAttribution.observations(host.view()).first)
        #expect(observation.port == "10001/tcp")
        #expect(observation.targets == ["172.17.0.2:80"])
        // From conntrack's tuple, the target's own address is a client reaching the container directly.
        host.snapshot.drops = nil
        host.recordProbeDrops(2, reason: "NEIGH_QUEUEFULL", destination: "172.17.0.2", port: 80, beforeDNAT: true)
        #expect(DropAttribution.observations(host.view()).isEmpty)
    }

    @Test("without published ports (firewall rules not read) nothing is attributed")
    func noRules() {
        var host = DockerHost()
        host.recordProbeDrops(40, reason: "NETFILTER_DROP")
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("two reasons and two ingresses of one port make one finding")
    func merged() throws {
        var host = DockerHost.withRules()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.recordProbeDrops(3, reason: "NETFILTER_DROP", clients: ["192.0.2.7"])
        host.recordProbeDrops(2, reason: "NO_SOCKET", ingress: "eth1", destination: "198.51.100.10", clients: ["198.51.100.1"])
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.interface == nil)
        #expect(finding.evidenceByName["drops"] == "5")
        #expect(finding.evidenceByName["drop_reason"] == "NETFILTER_DROP,NO_SOCKET")
        #expect(finding.evidenceByName["ingress"] == "eth0,eth1")
        #expect(finding.evidenceByName["drop_clients"] == "192.0.2.7,198.51.100.1")
    }
}

@Suite("drop readings")
struct DropReadingTests {
    let flow = DropFlow(
        ingressIndex: 2, reason: "IP_INADDRERRORS", transport: "tcp", destination: "192.0.2.10",
        destinationPort: 10001, beforeDNAT: true)
    var other: DropFlow {
        var other = flow
        other.reason = "NETFILTER_DROP"
        return other
    }

    @Test("growth between two readings keeps flows that grew, with their clients sorted by address")
    func growth() {
        let reading = DropReading.growth(
            from: [flow: 5, other: 7], to: [flow: 9, other: 7],
            samples: [
                DropFlowSample(flow: flow, client: "192.0.2.10", time: 3),
                DropFlowSample(flow: flow, client: "192.0.2.9", time: 4),
                DropFlowSample(flow: flow, client: "192.0.2.10", time: 5),
            ], seconds: 2)
        #expect(reading.seconds == 2)
        #expect(reading.counts == [DropCount(flow: flow, packets: 4, clients: ["192.0.2.9", "192.0.2.10"], lastSeen: 5)])
        #expect(reading.packets == 4)
    }

    @Test("a counter that went backwards (the program loaded again) counts from zero")
    func reset() {
        let reading = DropReading.growth(from: [flow: 50], to: [flow: 3], samples: [], seconds: 1)
        #expect(reading.counts.map(\.packets) == [3])
    }

    @Test("clients are bounded")
    func boundedClients() {
        let samples = (1...40).map { DropFlowSample(flow: flow, client: "10.0.0.\($0)", time: Double($0)) }
        let reading = DropReading.growth(from: [:], to: [flow: 40], samples: samples, seconds: 1)
        #expect(reading.counts.first?.clients.count == DropCount.maximumClients)
        // The newest are kept.
        #expect(reading.counts.first?.clients.contains("10.0.0.40") == true)
        #expect(reading.counts.first?.clients.contains("10.0.0.1") == false)
    }

    @Test("the window sums the last minute's readings and forgets older ones")
    func window() throws {
        var window = DropWindow(length: 60)
        #expect(window.reading(at: 0) == nil)
        window.add(DropReading(seconds: 5, counts: [DropCount(flow: flow, packets: 2, clients: ["192.0.2.1"])]), at: 100)
        window.add(DropReading(seconds: 5), at: 105)
        #expect(!window.newestHasDrops)
        window.add(DropReading(seconds: 5, counts: [DropCount(flow: flow, packets: 3, clients: ["192.0.2.2"])]), at: 110)
        #expect(window.newestHasDrops)
        let merged = try #require(window.reading(at: 110))
        #expect(merged.seconds == 15)
        #expect(merged.counts == [DropCount(flow: flow, packets: 5, clients: ["192.0.2.1", "192.0.2.2"])])
        // A minute after the first reading it is forgotten.
        window.add(DropReading(seconds: 5), at: 160)
        #expect(try #require(window.reading(at: 160)).counts.map(\.packets) == [3])
        window.add(DropReading(seconds: 5), at: 200)
        #expect(try #require(window.reading(at: 200)).counts.isEmpty)
    }

    @Test("snapshots carry drops through JSON, and older snapshots without them still decode")
    func snapshotJSON() throws {
        var host = DockerHost()
        host.recordProbeDrops(2, reason: "IP_INADDRERRORS")
        let encoder = JSONEncoder()
        let data = try encoder.encode(host.snapshot)
        #expect(try JSONDecoder().decode(Snapshot.self, from: data) == host.snapshot)
        host.snapshot.drops = nil
        let old = try encoder.encode(host.snapshot)
        #expect(String(decoding: old, as: UTF8.self).contains("drops") == false)
        #expect(try JSONDecoder().decode(Snapshot.self, from: old).drops == nil)
    }

    @Test("explain's text: one line per ingress and reason with the clients; none when nothing dropped")
    func explainText() {
        let observation = DropObservation(
            port: "10001/tcp", ingress: "eth0", reason: "IP_INADDRERRORS", count: 2, clients: ["192.0.2.1"],
            targets: ["172.17.0.2:80"], seconds: 2)
        #expect(
            DropReport.text([observation], seconds: 2)
                == "  drops in the last 2 s (drop probe):\n    eth0 IP_INADDRERRORS: 2 packets from 192.0.2.1 "
                + "(the ingress does not forward (forwarding=0) or the destination is invalid)\n")
        #expect(DropReport.text([], seconds: 2) == "  drops in the last 2 s (drop probe): none\n")
    }
}
