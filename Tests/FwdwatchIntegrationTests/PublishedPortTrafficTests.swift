import Foundation
import FwdwatchTestFixtures
import Testing

/// Published ports against real traffic: the incident's topology with Docker's exact rules, a web
/// server in the container, a client on the uplink. Each breakage is proved real (the client's request
/// fails) and fwdwatch must name the port, the ingress and the hop; healing must clear it. The daemon,
/// with a one-second sweep for rule changes, must agree with check.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct PublishedPortTrafficTests {
    static let rules = RecordedFixture.path(RecordedFixture.docker2010Rules)

    struct Breakage: Sendable, CustomTestStringConvertible {
        var name: String
        var hop: String
        var breakIt: [[String]]
        var heal: [[String]]
        var testDescription: String { name }
    }

    static let breakages: [Breakage] = [
        Breakage(
            name: "uplink forwarding 0", hop: "ingress-forwarding",
            breakIt: [["sysctl", "-qw", "net.ipv4.conf.eth0.forwarding=0"]],
            heal: [["sysctl", "-qw", "net.ipv4.conf.eth0.forwarding=1"]]),
        Breakage(
            name: "ip_forward 0", hop: "ip-forwarding",
            breakIt: [["sysctl", "-qw", "net.ipv4.ip_forward=0"]],
            heal: [["sysctl", "-qw", "net.ipv4.ip_forward=1"]]),
        Breakage(
            name: "FORWARD policy DROP without Docker's accept", hop: "forward-chain",
            breakIt: [["iptables", "-D", "DOCKER", "-d", "172.17.0.2/32", "!", "-i", "docker0", "-o", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"]],
            heal: [["iptables", "-A", "DOCKER", "-d", "172.17.0.2/32", "!", "-i", "docker0", "-o", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"]]),
        Breakage(
            name: "DOCKER-USER drop on the uplink", hop: "forward-chain",
            breakIt: [["iptables", "-I", "DOCKER-USER", "-i", "eth0", "-j", "DROP"]],
            heal: [["iptables", "-D", "DOCKER-USER", "-i", "eth0", "-j", "DROP"]]),
        Breakage(
            name: "bridge route deleted", hop: "route",
            breakIt: [["ip", "route", "del", "172.17.0.0/16", "dev", "docker0"]],
            heal: [["ip", "route", "add", "172.17.0.0/16", "dev", "docker0", "proto", "kernel", "scope", "link", "src", "172.17.0.1"]]),
        Breakage(
            name: "bridge down", hop: "egress-link",
            breakIt: [["ip", "link", "set", "docker0", "down"]],
            heal: [["ip", "link", "set", "docker0", "up"]]),
    ]

    func portFinding(_ topology: IncidentTopology) throws -> (status: Int32, finding: [String: Any]?) {
        let result = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null"], check: false)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let findings = document?["findings"] as? [[String: Any]] ?? []
        return (result.status, findings.first { $0["rule"] as? String == "published-port-unreachable" })
    }

    @Test(arguments: breakages)
    func breakageIsRealAndNamed(_ breakage: Breakage) throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.exec(["iptables-restore"], input: try String(contentsOfFile: Self.rules, encoding: .utf8))
        let server = try NamespaceWebServer(topology.container, address: "172.17.0.2", port: 80)
        defer { server.stop() }
        #expect(
            try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try clientReaches(topology) },
            "\(server.diagnosis)")
        let healthy = try portFinding(topology)
        #expect(healthy.finding == nil)

        let daemon = try DaemonProcess(
            namespace: topology.host, configText: "[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n")
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        #expect(!daemon.activeKeys.contains("published-port-unreachable 10001/tcp"))

        for command in breakage.breakIt { try topology.host.exec(command) }
        #expect(try !clientReaches(topology), "the breakage must be real")
        let broken = try portFinding(topology)
        #expect(broken.status == 2)
        #expect(broken.finding?["subject"] as? String == "10001/tcp")
        let evidence = Dictionary(
            uniqueKeysWithValues: (broken.finding?["evidence"] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["value"] ?? "") })
        #expect(evidence["ingress"] == "eth0")
        #expect(evidence["hop"] == breakage.hop)
        #expect(evidence["target"] == "172.17.0.2:80")
        #expect(daemon.waitForAlert("raised", rule: "published-port-unreachable", subject: "10001/tcp") != nil)

        for command in breakage.heal { try topology.host.exec(command) }
        #expect(try waitUntil(timeout: .seconds(10), interval: .milliseconds(100)) { try clientReaches(topology) })
        #expect(try portFinding(topology).finding == nil)
        #expect(daemon.waitForAlert("resolved", rule: "published-port-unreachable", subject: "10001/tcp") != nil)
    }
}
