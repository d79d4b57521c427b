import Foundation
import Testing

/// Rule changes committed through nf_tables (iptables-nft, native nft) reach the daemon by notification,
/// not by the sweep: with the sweep set to an hour, a drop rule inserted in the forward path must still
/// be reported within moments, and its removal resolve the alert.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct FirewallNotificationTests {
    struct Change: Sendable, CustomTestStringConvertible {
        var name: String
        var breakIt: [[String]]
        var heal: [[String]]
        var testDescription: String { name }
    }

    static let changes: [Change] = [
        Change(
            name: "iptables-nft DOCKER-USER drop",
            breakIt: [["iptables", "-I", "DOCKER-USER", "-i", "eth0", "-j", "DROP"]],
            heal: [["iptables", "-D", "DOCKER-USER", "-i", "eth0", "-j", "DROP"]]),
        Change(
            name: "native nftables forward drop",
            breakIt: [
                ["nft", "add", "table", "ip", "fwt_block"],
                ["nft", "add", "chain", "ip", "fwt_block", "forward", "{ type filter hook forward priority -10; policy accept; }"],
                ["nft", "add", "rule", "ip", "fwt_block", "forward", "iifname", "eth0", "oifname", "docker0", "drop"],
            ],
            heal: [["nft", "delete", "table", "ip", "fwt_block"]]),
    ]

    @Test(arguments: changes)
    func ruleChangeIsSeenWithoutASweep(_ change: Change) throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.exec(
            ["iptables-restore"], input: try String(contentsOfFile: PublishedPortTrafficTests.rules, encoding: .utf8))

        let daemon = try DaemonProcess(
            namespace: topology.host, configText: "[daemon]\nsweep-interval-seconds = 3600\nflap-hold-seconds = 0\n")
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        #expect(!daemon.activeKeys.contains("published-port-unreachable 10001/tcp"))
        #expect(!daemon.notices.contains { ($0["message"] as? String)?.contains("nftables change notifications") == true })

        let broken = ContinuousClock.now
        for command in change.breakIt { try topology.host.exec(command) }
        let raised = daemon.waitForAlert("raised", rule: "published-port-unreachable", subject: "10001/tcp")
        #expect(raised != nil, "stderr: \(daemon.stderr)")
        let raisedAfter = ContinuousClock.now - broken
        #expect(raisedAfter < .seconds(10), "seen after \(raisedAfter), not by the hourly sweep")

        let count = daemon.all.count
        for command in change.heal { try topology.host.exec(command) }
        #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: "10001/tcp") != nil)
        print("\(change.name): raised \(raisedAfter) after the change")
    }
}

/// A DNAT deleted under a running container (a firewall reload that forgets Docker's nat rules): the
/// published port stops answering, and with the sweep at an hour the daemon must still name the lost
/// mapping at once, agree with check, and clear it when the rule comes back.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct DnatDeletedTrafficTests {
    static let dnat = ["DOCKER", "!", "-i", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "10001", "-j", "DNAT", "--to-destination", "172.17.0.2:80"]

    func checkFinding(_ topology: IncidentTopology, rule: String) throws -> [String: Any]? {
        let result = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null"], check: false)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (document?["findings"] as? [[String: Any]] ?? []).first { $0["rule"] as? String == rule }
    }

    @Test func dnatDeletedIsRealAndNamed() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.exec(
            ["iptables-restore"], input: try String(contentsOfFile: PublishedPortTrafficTests.rules, encoding: .utf8))
        let server = try NamespaceWebServer(topology.container, address: "172.17.0.2", port: 80)
        defer { server.stop() }
        #expect(
            try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try clientReaches(topology) },
            "\(server.diagnosis)")
        #expect(try checkFinding(topology, rule: "dnat-rule-missing") == nil)

        let daemon = try DaemonProcess(
            namespace: topology.host, configText: "[daemon]\nsweep-interval-seconds = 3600\nflap-hold-seconds = 0\n")
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        try topology.host.exec(["iptables", "-t", "nat", "-D"] + Self.dnat)
        #expect(try !clientReaches(topology), "the breakage must be real")
        let finding = try checkFinding(topology, rule: "dnat-rule-missing")
        #expect(finding?["subject"] as? String == "172.17.0.2:80/tcp")
        #expect(finding?["interface"] as? String == "docker0")
        #expect(try checkFinding(topology, rule: "published-port-unreachable") == nil, "the port is simply gone")
        #expect(daemon.waitForAlert("raised", rule: "dnat-rule-missing", subject: "172.17.0.2:80/tcp") != nil)

        try topology.host.exec(["iptables", "-t", "nat", "-A"] + Self.dnat)
        #expect(try waitUntil(timeout: .seconds(10), interval: .milliseconds(100)) { try clientReaches(topology) })
        #expect(try checkFinding(topology, rule: "dnat-rule-missing") == nil)
        #expect(daemon.waitForAlert("resolved", rule: "dnat-rule-missing", subject: "172.17.0.2:80/tcp") != nil)
        try expectConverged(daemon, topology.host, quiet: .seconds(1), "the daemon and check agree")
    }
}
