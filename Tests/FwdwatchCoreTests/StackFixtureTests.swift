import Foundation
import FwdwatchFirewall
import FwdwatchFixtures
import Testing

@testable import FwdwatchCore

/// One way one stack fixture's rules were read (Fixtures/stacks/<fixture>/host.json, `firewall[]`).
struct StackCase: Sendable, Hashable, CustomTestStringConvertible {
    let fixture: String
    let reading: String

    var testDescription: String { "\(fixture) [\(reading)]" }

    /// Every reading of every fixture folder; a folder whose host.json cannot be read still gets a case,
    /// which then fails with the decoding error.
    static let all: [StackCase] = StackHost.fixtureNames.flatMap { name -> [StackCase] in
        guard let host = try? StackHost.load(name) else { return [StackCase(fixture: name, reading: "host.json")] }
        return host.readings.map { StackCase(fixture: name, reading: $0.name) }
    }

    func load() throws -> (host: StackHost, reading: HostDescription.Reading, snapshot: Snapshot) {
        let host = try StackHost.load(fixture)
        let reading = try #require(host.readings.first { $0.name == self.reading }, "no reading \(self.reading)")
        return (host, reading, try host.snapshot(reading: reading))
    }
}

/// A published port as the tests compare it: "10001/tcp" to "172.17.0.2:80".
struct PortKey: Hashable, Comparable, CustomStringConvertible {
    var port: String
    var target: String
    var description: String { "\(port) -> \(target)" }
    static func < (a: PortKey, b: PortKey) -> Bool { (a.port, a.target) < (b.port, b.target) }
}

extension Finding {
    var line: String { "\(severity.rawValue) \(rule) \(subject): \(message)" }
}

/// The healthy host of every container/VM stack fwdwatch meets (Fixtures/stacks, see its README): recorded
/// from the real engines where Debian 12 packages them, authored in the projects' published shapes otherwise.
/// Each case is one reading of one fixture, so a failure names the stack.
@Suite("Stack fixtures")
struct StackFixtureTests {
    @Test("every fixture folder is found and its host.json reads")
    func fixturesAreFound() throws {
        #expect(StackHost.fixtureNames.count >= 15, "found \(StackHost.fixtureNames) in \(StackHost.stacksDirectory.path)")
        for name in StackHost.fixtureNames {
            let host = try StackHost.load(name)
            #expect(!host.readings.isEmpty, "\(name): no readings")
        }
    }

    @Test("the recorded rules parse without problems", arguments: StackCase.all)
    func rulesParse(_ stack: StackCase) throws {
        let (host, reading, _) = try stack.load()
        let state = try host.firewall(reading)
        #expect(!state.tables.isEmpty)
        #expect(state.problems == [], "\(stack.testDescription): \(state.problems.count) parser problems")
    }

    @Test("(a) the healthy host has no warning or critical finding", arguments: StackCase.all)
    func healthyHostIsClean(_ stack: StackCase) throws {
        let (_, _, snapshot) = try stack.load()
        let evaluation = Evaluator().evaluate(snapshot)
        let alarms = evaluation.findings.filter { $0.severity >= .warning }
        #expect(alarms.isEmpty, "\(stack.testDescription):\n\(alarms.map(\.line).joined(separator: "\n"))")
        #expect(evaluation.status == .ok)
    }

    @Test("(b) the published ports found are exactly the host's, with their ingress interfaces", arguments: StackCase.all)
    func publishedPortsAreTheHosts(_ stack: StackCase) throws {
        let (host, _, snapshot) = try stack.load()
        let evaluation = Evaluator().evaluate(snapshot)
        var found: [PortKey: [String]] = [:]
        for status in evaluation.publishedPorts {
            let key = PortKey(port: status.port.subject, target: status.port.destination)
            found[key, default: []] += status.paths.map(\.ingress)
        }
        found = found.mapValues { Array(Set($0)).sorted() }
        var expected: [PortKey: [String]] = [:]
        for port in host.description.expect.published {
            expected[PortKey(port: port.port, target: port.target)] = port.ingress.sorted()
        }

        let missing = expected.keys.filter { found[$0] == nil }.sorted()
        let extra = found.keys.filter { expected[$0] == nil }.sorted()
        #expect(missing.isEmpty, "\(stack.testDescription): not found: \(missing)")
        #expect(extra.isEmpty, "\(stack.testDescription): found but not published: \(extra)")
        for key in expected.keys.sorted() {
            guard let ingress = found[key], let wanted = expected[key] else { continue }
            #expect(ingress == wanted, "\(stack.testDescription): \(key) ingress")
        }
        // Service addresses (ClusterIPs) are not ports of the host. A pair that is also published (the same
        // port and target through an external IP) is allowed: the port model cannot tell them apart.
        for port in host.description.expect.notPublished ?? [] {
            let key = PortKey(port: port.port, target: port.target)
            #expect(found[key] == nil || expected[key] != nil, "\(stack.testDescription): \(key) reported: \(port.why)")
        }
    }

    @Test("(c) forwarding=0 on the uplink is named, with every published port it cuts off", arguments: StackCase.all)
    func uplinkForwardingOffIsNamed(_ stack: StackCase) throws {
        let (host, _, healthy) = try stack.load()
        var snapshot = healthy
        snapshot.ipv4Conf["eth0"]?.forwarding = 0
        let evaluation = Evaluator().evaluate(snapshot)
        let listing = evaluation.findings.map(\.line).joined(separator: "\n")
        #expect(
            evaluation.findings.contains { $0.rule == "interface-forwarding-disabled" && $0.subject == "eth0" },
            "\(stack.testDescription): no interface-forwarding-disabled on eth0 in:\n\(listing)")
        // The subject is the port ("10001/tcp"), or the port and its target when a port has several
        // ("30080/tcp 10.244.1.5:8080").
        for port in host.description.expect.published where port.ingress.contains("eth0") {
            #expect(
                evaluation.findings.contains {
                    $0.rule == "published-port-unreachable"
                        && ($0.subject == port.port || $0.subject == "\(port.port) \(port.target)")
                },
                "\(stack.testDescription): no published-port-unreachable for \(port.port) -> \(port.target) in:\n\(listing)")
        }
    }
}

/// The rule-set generators of FwdwatchFixtures (benchmark inputs) against the real parsers and the evaluator.
/// Their output was loaded once into a throwaway namespace by the real tools (iptables-restore, nft -f):
/// Fixtures/stacks/generated holds those samples and their recordings (see its README and validate.sh);
/// the first tests check the samples are still what the generators print.
@Suite("Rule-set generators")
struct GeneratorTests {
    static let generated = StackHost.stacksDirectory.appendingPathComponent("generated")

    static func sample(_ file: String) throws -> String {
        try String(contentsOf: generated.appendingPathComponent(file), encoding: .utf8)
    }

    /// The sizes of the validated samples.
    static let kube = (services: 12, endpointsPerService: 3, nodePortEvery: 4)
    static let docker = (publishedPorts: 6, containers: 4)

    static var kubeIptables: String {
        KubeProxyRules.iptablesSave(services: kube.services, endpointsPerService: kube.endpointsPerService, nodePortEvery: kube.nodePortEvery)
    }
    static var kubeNftables: String {
        KubeProxyRules.nftables(services: kube.services, endpointsPerService: kube.endpointsPerService, nodePortEvery: kube.nodePortEvery)
    }
    static var kubeHost: GeneratedHost {
        KubeProxyRules.host(services: kube.services, endpointsPerService: kube.endpointsPerService, nodePortEvery: kube.nodePortEvery)
    }
    static var dockerIptables: String { FwdwatchFixtures.DockerRules.iptablesSave(publishedPorts: docker.publishedPorts, containers: docker.containers) }
    static var dockerHost: GeneratedHost { FwdwatchFixtures.DockerRules.host(publishedPorts: docker.publishedPorts, containers: docker.containers) }

    @Test("the validated samples are what the generators print now")
    func samplesAreCurrent() throws {
        #expect(try Self.sample("kube-proxy-iptables.txt") == Self.kubeIptables)
        #expect(try Self.sample("kube-proxy.nft") == Self.kubeNftables)
        #expect(try Self.sample("docker-20.10-iptables.txt") == Self.dockerIptables)
    }

    /// Writes the samples when FWDWATCH_WRITE_GENERATED names a directory (validate.sh uses it).
    @Test("write the samples for validate.sh", .enabled(if: ProcessInfo.processInfo.environment["FWDWATCH_WRITE_GENERATED"] != nil))
    func writeSamples() throws {
        let directory = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["FWDWATCH_WRITE_GENERATED"]))
        try Self.kubeIptables.write(to: directory.appendingPathComponent("kube-proxy-iptables.txt"), atomically: true, encoding: .utf8)
        try Self.kubeNftables.write(to: directory.appendingPathComponent("kube-proxy.nft"), atomically: true, encoding: .utf8)
        try Self.dockerIptables.write(to: directory.appendingPathComponent("docker-20.10-iptables.txt"), atomically: true, encoding: .utf8)
    }

    static func check(_ name: String, _ firewall: FirewallState, _ host: GeneratedHost) {
        #expect(firewall.problems == [], "\(name): parser problems")
        let evaluation = Evaluator().evaluate(host.snapshot(firewall: firewall))
        let alarms = evaluation.findings.filter { $0.severity >= .warning }
        #expect(alarms.isEmpty, "\(name):\n\(alarms.map(\.line).joined(separator: "\n"))")
        var found: [PortKey: [String]] = [:]
        for status in evaluation.publishedPorts {
            found[PortKey(port: status.port.subject, target: status.port.destination), default: []] += status.paths.map(\.ingress)
        }
        found = found.mapValues { Array(Set($0)).sorted() }
        var expected: [PortKey: [String]] = [:]
        for port in host.published { expected[PortKey(port: port.port, target: port.target)] = port.ingress.sorted() }
        #expect(found == expected, "\(name): published ports")
    }

    @Test("Docker 20.10 generator: parses, evaluates clean, every port found")
    func dockerGenerator() {
        let host = Self.dockerHost
        #expect(host.published.count == Self.docker.publishedPorts)
        Self.check("docker", IptablesSaveParser.parse(Self.dockerIptables, backend: .iptablesNFT), host)
    }

    @Test("kube-proxy iptables generator: parses, evaluates clean, the NodePorts found")
    func kubeIptablesGenerator() {
        Self.check("kube-proxy iptables", IptablesSaveParser.parse(Self.kubeIptables, backend: .iptablesNFT), Self.kubeHost)
    }

    @Test("kube-proxy nftables generator: its recording parses, evaluates clean, the NodePorts found")
    func kubeNftablesGenerator() throws {
        Self.check("kube-proxy nftables", NftablesRulesetParser.parse(try Self.sample("kube-proxy.json")), Self.kubeHost)
    }

    @Test("generators scale: 2000 services x 5 endpoints")
    func generatorsScale() {
        let text = KubeProxyRules.iptablesSave(services: 2000, endpointsPerService: 5, nodePortEvery: 10)
        let state = IptablesSaveParser.parse(text, backend: .iptablesNFT)
        #expect(state.problems == [])
        #expect(state.natRules.count > 2000 * 5)
        let host = KubeProxyRules.host(services: 2000, endpointsPerService: 5, nodePortEvery: 10)
        #expect(host.published.count == 200 * 5)
        #expect(host.guests.count == 250)
    }
}
