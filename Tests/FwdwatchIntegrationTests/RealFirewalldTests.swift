import Foundation
import Testing

/// fwdwatch on REAL firewalld 1.3 (nftables backend, on a private system bus) with a REAL Docker 20.10 on top
/// (see `FirewalldHost`): eth0 in zone public, docker0 in zone docker (Docker puts it there through firewalld's
/// D-Bus API), one container `-p 10001:80`, a client on the uplink: the host the recorded fixture
/// `firewalld-1.3-docker-20.10` came from, now with traffic.
///
/// What is proved, in order, on one host:
/// 1. firewalld and Docker act in the test's namespace only (zones public: eth0, docker: docker0; `inet
///    firewalld` there, none in the machine's); the client gets a 200.
/// 2. Healthy: `check` exits 0 with no warning or critical finding, lists 10001/tcp -> web:80 with ingress
///    eth0; `explain` passes; a daemon raises nothing. firewalld's forward chain accepts the port's connection
///    by `ct status dnat accept` (every connection to a published port is DNATed), so the forward-chain hop is
///    decided, not "undecided".
/// 3. A zone rich rule that rejects the client (`--zone=public --add-rich-rule='rule family=ipv4 source
///    address=192.0.2.20 reject'`) does not touch the port (the DNATed connection is accepted before any zone
///    is consulted): curl still works, fwdwatch must stay clean.
/// 4. Uplink forwarding 0: named at ingress-forwarding from eth0 with the sysctl fix.
/// 5. firewalld's direct interface (`--direct --add-rule ipv4 filter FORWARD 0 -d <web> -p tcp --dport 80 -j
///    REJECT`, an iptables rule firewalld puts at the head of FORWARD): curl fails; named at forward-chain from
///    eth0 with the rule quoted; the fix, applied as printed, must open the port.
/// 6. Panic mode (`--panic-on`: `table inet firewalld_policy_drop`, prerouting policy drop): curl fails; the
///    port must be named.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealFirewalldTests {
    static let subject = FirewalldHost.subject

    @Test func healthyIsCleanAndFirewalldBreakagesAreNamed() throws {
        try requireInstalled(FirewalldHost.self)
        let machineZones = try FileManager.default.contentsOfDirectory(atPath: "/etc/firewalld/zones").sorted()
        try expectLeavesNothing(machineBridge: "docker0", ruleWord: "firewalld", FirewalldHost.init) { firewalld in
            try story(firewalld, try #require(firewalld.engine))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/etc/firewalld/zones").sorted() == machineZones,
                "Docker's zone went to the scratch copy, not the machine's /etc/firewalld")
    }

    func story(_ firewalld: FirewalldHost, _ engine: DockerEngine) throws {
        let host = firewalld.host
        let web = "\(firewalld.webAddress):80"

        // 1. Where firewalld and Docker acted.
        let zones = try firewalld.firewallCmd(["--get-active-zones"]).stdout
        #expect(zones.contains("public\n  interfaces: eth0"), "\(zones)")
        #expect(zones.contains("docker\n  interfaces: docker0"), "Docker put docker0 in zone docker: \(zones)\n\(engine.log.suffix(1500))")
        let ruleset = try host.exec(["nft", "list", "tables"]).stdout
        #expect(ruleset.contains("table inet firewalld"), "\(ruleset)")
        #expect(try firewalld.waitUntilClientReaches(), "the client reaches 10001: \(engine.log.suffix(2000))")

        // 2. Healthy.
        let row = try expectHealthyPublishedPort(firewalld, target: web, bridge: "docker0", "healthy firewalld + Docker")
        // fwdwatch at the time of writing: "eth0 ok (undecided: forward-chain)", the hop "dropped by nftables
        // inet firewalld filter_FORWARD #5 for some clients (it depends on nftables inet firewalld
        // filter_FORWARD #2)": #2 is `ct status dnat accept`, which every connection to a published port matches.
        let hop = row.hop("forward-chain", from: "eth0")
        #expect(hop?["passes"] as? Bool == true, "the forward chain's verdict on a DNATed connection is decided: \(hop ?? [:])")

        let daemon = try startDaemon(in: host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, "firewalld + Docker host")

        // 3. A zone rich rule rejecting the client: the port does not go through the zone.
        let rich = "rule family=ipv4 source address=192.0.2.20 reject"
        try firewalld.firewallCmd(["--zone=public", "--add-rich-rule=\(rich)"])
        #expect(try firewalld.clientReaches(), "the DNATed connection is accepted before any zone is consulted")
        try expectClean(firewalld, "zone public rich rule rejecting the client")
        #expect(daemon.alerts.isEmpty, "the daemon raised on a port that still works: \(daemon.alerts)")
        try firewalld.firewallCmd(["--zone=public", "--remove-rich-rule=\(rich)"])

        // 4. Uplink forwarding 0.
        try expectUplinkForwardingOffNamed(firewalld, daemon, target: web, label: "RealFirewalldTests")

        // 5. A direct rule rejecting the container's port.
        let direct = ["ipv4", "filter", "FORWARD", "0", "-d", firewalld.webAddress, "-p", "tcp", "--dport", "80", "-j", "REJECT"]
        var count = daemon.all.count
        try firewalld.firewallCmd(["--direct", "--add-rule"] + direct)
        let reject = "-A FORWARD -d \(firewalld.webAddress)/32 -p tcp -m tcp --dport 80 -j REJECT"
        let forward = try host.exec(["iptables", "-S", "FORWARD"]).stdout
        #expect(forward.contains(reject), "\(forward)")
        #expect(try !firewalld.clientReaches(), "the direct REJECT: the breakage must be real")
        let port = try expectForwardChainDropNamed(
            host, daemon, since: count, subject: Self.subject, target: web, bridge: "docker0", rule: reject, "direct REJECT"
        ).port

        // The fix, applied as printed, must open the port. fwdwatch at the time of writing printed `iptables -I
        // DOCKER-USER -i eth0 -o docker0 -d <web> -p tcp --dport 80 -j ACCEPT  # or remove the rule that drops
        // it`, which cannot: the REJECT is FORWARD #1, before FORWARD's jump to DOCKER-USER. What works: `iptables
        // -I FORWARD ... -j ACCEPT`, or in firewalld's words `firewall-cmd --direct --remove-rule ipv4 filter
        // FORWARD 0 -d <web> -p tcp --dport 80 -j REJECT`.
        let fix = port.fix ?? ""
        print("RealFirewalldTests: fwdwatch's fix for the direct REJECT: \(fix)")
        let command = fixCommand(fix)
        if !command.isEmpty {
            try expectFixOpensPort(command, apply: firewalld.shell, reaches: firewalld.clientReaches)
            if let undo = iptablesDeletion(of: command) { try firewalld.shell(undo) }
        }
        count = daemon.all.count
        try firewalld.firewallCmd(["--direct", "--remove-rule"] + direct)
        #expect(try firewalld.waitUntilClientReaches(), "removing the direct rule heals")
        try expectClean(firewalld, "direct rule removed")
        expectResolvedIfHeld(daemon, from: count, rule: "published-port-unreachable", subject: Self.subject)
        try expectConverged(daemon, host, quiet: .seconds(1), "direct rule removed: the daemon and check agree")

        // 6. Panic mode. fwdwatch at the time of writing: "OK: no problems", `10001/tcp -> <web>: eth0 ok
        // (undecided: forward-chain)`, exit 0: it does not read filter chains on the prerouting hook, where
        // firewalld's panic table drops every packet.
        count = daemon.all.count
        try firewalld.firewallCmd(["--panic-on"])
        let tables = try host.exec(["nft", "list", "tables"]).stdout
        #expect(tables.contains("table inet firewalld_policy_drop"), "\(tables)")
        #expect(try !firewalld.clientReaches(), "panic mode: the breakage must be real")
        let panic = try CheckOutput(host)
        #expect(panic.status == 2, "panic mode drops every packet of the port:\n\(stackCheckText(host))")
        let panicPort = panic.finding("published-port-unreachable", subject: Self.subject)
        #expect(panicPort?.evidence["ingress"] == "eth0", "panic mode names 10001/tcp from eth0: \(panic.keys)")
        if let panicPort { print("RealFirewalldTests: panic mode: \(panicPort.message) fix: \(panicPort.fix ?? "none")") }
        print("RealFirewalldTests: check in panic mode:\n\(stackCheckText(host))")
        let panicRaised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: Self.subject, timeout: .seconds(3))
        #expect(panicRaised != nil, "the daemon raises 10001/tcp in panic mode: \(daemon.activeKeys)")
        try firewalld.firewallCmd(["--panic-off"])
        #expect(try firewalld.waitUntilClientReaches(), "panic off heals")
        try expectClean(firewalld, "panic off")
        try expectDaemonSettled(daemon, host, "healed")
    }
}
