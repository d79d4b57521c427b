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

        let config = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-nft-\(randomSuffix()).toml").path
        try "[daemon]\nsweep-interval-seconds = 3600\nflap-hold-seconds = 0\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let daemon = try DaemonProcess(namespace: topology.host, config: config)
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
