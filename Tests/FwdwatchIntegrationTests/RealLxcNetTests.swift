import Foundation
import Testing

/// fwdwatch against Debian 12's real lxc-net (lxc 5.0), with both of its firewall backends, in namespaces
/// (see `LxcNetHost`): lxcbr0 10.0.3.1/24 with a guest 10.0.3.50 on it and a client on the uplink.
/// Healthy: the guest reaches the client through lxc-net's MASQUERADE, `fwdwatch check` is clean (lxc publishes
/// no ports) and a daemon raises nothing. Broken: lxc-net's MASQUERADE deleted, proved real (the guest's
/// request gets no reply), named masquerade-missing 10.0.3.0/24 on lxcbr0 leaving by eth0, cleared by the heal.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealLxcNetTests {
    @Test(arguments: LxcNetHost.Firewall.allCases)
    func healthyIsCleanAndMasqueradeRemovedIsNamed(_ firewall: LxcNetHost.Firewall) throws {
        let machineBefore = try MachineNetworkTrace(bridge: LxcNetHost.bridge, ruleWord: "lxc")
        let lxc = try LxcNetHost(firewall: firewall)
        defer { lxc.delete() }

        // lxc-net acted in the host namespace, with the backend asked for, and nowhere else.
        let bridge = try lxc.host.ip(["-4", "-o", "address", "show", "dev", LxcNetHost.bridge]).stdout
        #expect(bridge.contains("10.0.3.1/24"), "\(bridge)")
        #expect(lxc.dnsmasqPid.map(processIsAlive) == true, "lxc-net's dnsmasq runs")
        switch firewall {
        case .nftables:
            let ruleset = try lxc.host.exec(["nft", "list", "ruleset"]).stdout
            #expect(ruleset.contains("table inet lxc") && ruleset.contains("table ip lxc"), "\(ruleset)")
            #expect(ruleset.contains("ip saddr 10.0.3.0/24 ip daddr != 10.0.3.0/24"), "\(ruleset)")
        case .iptables:
            let rules = try lxc.host.exec(["iptables-save"]).stdout
            #expect(rules.contains("-A POSTROUTING -s 10.0.3.0/24 ! -d 10.0.3.0/24 -j MASQUERADE"), "\(rules)")
            #expect(rules.contains("-A FORWARD -i lxcbr0 -j ACCEPT"), "\(rules)")
        }
        // The machine's namespace is as it was (on a systemd host, installing lxc starts lxc-net there itself).
        #expect(try MachineNetworkTrace(bridge: LxcNetHost.bridge, ruleWord: "lxc") == machineBefore)

        // Healthy.
        let server = try NamespaceWebServer(lxc.client, address: LxcNetHost.clientAddress, port: 8080)
        defer { server.stop() }
        #expect(
            try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try lxc.guestReachesClient(port: 8080) },
            "the guest reaches the client through lxc-net's MASQUERADE: \(server.diagnosis)")
        let check = try expectCheckClean(lxc.host, "healthy lxc-net host")
        #expect(check.publishedPorts.isEmpty, "lxc publishes no ports: \(check.stdout.prefix(1000))")
        let daemon = try startDaemon(in: lxc.host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, quiet: .seconds(2), "lxc-net host")

        // Broken: lxc-net's MASQUERADE deleted.
        try lxc.deleteMasquerade()
        #expect(try !lxc.guestReachesClient(port: 8080), "the breakage must be real")
        let broken = try CheckOutput(lxc.host)
        #expect(broken.status == 1, "\(broken.stdout.prefix(2000))")
        let finding = try #require(broken.finding("masquerade-missing", subject: LxcNetHost.subnet), "\(broken.keys)")
        #expect(finding.evidence["bridge"] == LxcNetHost.bridge)
        #expect(finding.evidence["uplink"] == "eth0")
        #expect(broken.keys == ["masquerade-missing \(LxcNetHost.subnet)"])
        #expect(finding.fix?.isEmpty == false)
        #expect(daemon.waitForAlert("raised", rule: "masquerade-missing", subject: LxcNetHost.subnet) != nil)

        // Healed.
        let count = daemon.all.count
        try lxc.restoreMasquerade()
        #expect(try waitUntil(timeout: .seconds(10), interval: .milliseconds(100)) { try lxc.guestReachesClient(port: 8080) })
        #expect(try CheckOutput(lxc.host).keys.isEmpty)
        #expect(daemon.waitForAlert(from: count, "resolved", rule: "masquerade-missing", subject: LxcNetHost.subnet) != nil)
        try expectConverged(daemon, lxc.host, quiet: .seconds(2), "the daemon and check agree after the heal")
    }
}
