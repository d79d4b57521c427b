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
    static let daemonConfig = "[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n"

    @Test func healthyIsCleanAndFirewalldBreakagesAreNamed() throws {
        try #require(
            FirewalldHost.missingPackages.isEmpty,
            "not installed: \(FirewalldHost.missingPackages.joined(separator: ", ")); scripts/test.sh installs them")
        let machineBefore = try MachineNetworkTrace(bridge: "docker0", ruleWord: "firewalld")
        let machineZones = try FileManager.default.contentsOfDirectory(atPath: "/etc/firewalld/zones").sorted()
        let namespacesBefore = namespaces(prefixed: "fwt-fwd-")
        var pids: [pid_t] = []
        var directories: [String] = []
        do {
            let firewalld = try FirewalldHost()
            defer { firewalld.delete() }
            let engine = try #require(firewalld.engine)
            pids = [firewalld.holder.pid, firewalld.busPID, firewalld.firewalldPID, engine.pid]
            directories = [firewalld.directory, engine.directory]
            try story(firewalld, engine)
        }
        for pid in pids { #expect(!processIsAlive(pid), "process \(pid) is gone") }
        for directory in directories {
            #expect(pidsWithCommandLine(containing: directory).isEmpty, "nothing runs from \(directory)")
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is removed")
        }
        #expect(namespaces(prefixed: "fwt-fwd-") == namespacesBefore, "the test's namespaces are deleted")
        #expect(try MachineNetworkTrace(bridge: "docker0", ruleWord: "firewalld") == machineBefore, "the machine's namespace is untouched")
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
        try expectClean(firewalld, "healthy firewalld + Docker")
        let check = try CheckOutput(host)
        #expect(publishedSubjects(check) == [Self.subject], "\(check.stdout.prefix(1500))")
        #expect(ingresses(check, of: Self.subject) == ["eth0"], "\(check.stdout.prefix(1500))")
        // fwdwatch at the time of writing: "eth0 ok (undecided: forward-chain)", the hop "dropped by nftables
        // inet firewalld filter_FORWARD #5 for some clients (it depends on nftables inet firewalld
        // filter_FORWARD #2)": #2 is `ct status dnat accept`, which every connection to a published port matches.
        let hop = forwardHop(check)
        #expect(hop?["passes"] as? Bool == true, "the forward chain's verdict on a DNATed connection is decided: \(hop ?? [:])")
        let explain = try host.exec([fwdwatchBinary(), "explain", Self.subject, "--config", "/dev/null"], check: false)
        #expect(explain.status == 0, "\(explain.stdout)\(explain.stderr)")
        #expect(explain.stdout.contains("\(Self.subject) -> \(web)"), "\(explain.stdout)")
        #expect(explain.stdout.contains("from eth0 to docker0: ok"), "\(explain.stdout)")

        let daemon = try DaemonProcess(namespace: host, configText: Self.daemonConfig)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        waitForQuiet(daemon, quiet: .seconds(3))
        #expect(daemon.alerts.isEmpty, "the daemon raised on a healthy firewalld + Docker host: \(daemon.alerts)")

        // 3. A zone rich rule rejecting the client: the port does not go through the zone.
        let rich = "rule family=ipv4 source address=192.0.2.20 reject"
        try firewalld.firewallCmd(["--zone=public", "--add-rich-rule=\(rich)"])
        #expect(try firewalld.clientReaches(), "the DNATed connection is accepted before any zone is consulted")
        try expectClean(firewalld, "zone public rich rule rejecting the client")
        #expect(daemon.alerts.isEmpty, "the daemon raised on a port that still works: \(daemon.alerts)")
        try firewalld.firewallCmd(["--zone=public", "--remove-rich-rule=\(rich)"])

        // 4. Uplink forwarding 0.
        var count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try !firewalld.clientReaches(), "uplink forwarding 0: the breakage must be real")
        let off = try CheckOutput(host)
        #expect(off.status == 2, "\(stackCheckText(host))")
        let offPort = off.finding("published-port-unreachable", subject: Self.subject)
        #expect(offPort?.evidence["ingress"] == "eth0", "\(off.keys)")
        #expect(offPort?.evidence["hop"] == "ingress-forwarding", "\(offPort?.message ?? "not named")")
        #expect(offPort?.evidence["target"] == web)
        #expect(off.finding("interface-forwarding-disabled", subject: "eth0")?.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(off.keys == ["published-port-unreachable \(Self.subject)", "interface-forwarding-disabled eth0"], "\(off.keys)")
        // Seen once in three runs (fwdwatch at the time of writing): the daemon raised this with hop
        // "kernel-route" while check said "ingress-forwarding" (the kernel's EHOSTUNREACH evaluated before the
        // model held eth0's forwarding=0). The hop the daemon raises must be check's.
        let raised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: Self.subject)
        #expect((raised?["evidence"] as? [String: String])?["hop"] == "ingress-forwarding", "\(daemon.activeKeys)")
        try expectConverged(daemon, host, quiet: .seconds(1), "uplink forwarding 0: the daemon and check agree")
        for alert in daemon.alerts(after: count) where (alert["rule"] as? String) == "published-port-unreachable" {
            print("RealFirewalldTests: daemon: \(alert["state"] ?? "") \(alert["time"] ?? "") \(alert["evidence"] ?? "")")
        }
        count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        #expect(try firewalld.waitUntilClientReaches())
        #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.subject) != nil)
        try expectClean(firewalld, "uplink forwarding healed")

        // 5. A direct rule rejecting the container's port.
        let direct = ["ipv4", "filter", "FORWARD", "0", "-d", firewalld.webAddress, "-p", "tcp", "--dport", "80", "-j", "REJECT"]
        count = daemon.all.count
        try firewalld.firewallCmd(["--direct", "--add-rule"] + direct)
        let forward = try host.exec(["iptables", "-S", "FORWARD"]).stdout
        #expect(forward.contains("-A FORWARD -d \(firewalld.webAddress)/32 -p tcp -m tcp --dport 80 -j REJECT"), "\(forward)")
        #expect(try !firewalld.clientReaches(), "the direct REJECT: the breakage must be real")
        let rejected = try CheckOutput(host)
        #expect(rejected.status == 2, "\(stackCheckText(host))")
        let port = try #require(rejected.finding("published-port-unreachable", subject: Self.subject), "\(rejected.keys)")
        #expect(port.evidence["ingress"] == "eth0")
        #expect(port.evidence["hop"] == "forward-chain", "\(port.message)")
        #expect(port.evidence["target"] == web)
        #expect(port.message.contains("-A FORWARD -d \(firewalld.webAddress)/32 -p tcp -m tcp --dport 80 -j REJECT"), "\(port.message)")
        #expect(rejected.keys == ["published-port-unreachable \(Self.subject)", "forward-chain-blocks-bridge docker0"], "\(rejected.keys)")
        let directRaised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: Self.subject)
        #expect((directRaised?["evidence"] as? [String: String])?["hop"] == "forward-chain", "\(daemon.activeKeys)")
        try expectConverged(daemon, host, quiet: .seconds(1), "direct REJECT: the daemon and check agree")

        // The fix, applied as printed, must open the port. fwdwatch at the time of writing printed `iptables -I
        // DOCKER-USER -i eth0 -o docker0 -d <web> -p tcp --dport 80 -j ACCEPT  # or remove the rule that drops
        // it`, which cannot: the REJECT is FORWARD #1, before FORWARD's jump to DOCKER-USER. What works: `iptables
        // -I FORWARD ... -j ACCEPT`, or in firewalld's words `firewall-cmd --direct --remove-rule ipv4 filter
        // FORWARD 0 -d <web> -p tcp --dport 80 -j REJECT`.
        let fix = port.fix ?? ""
        print("RealFirewalldTests: fwdwatch's fix for the direct REJECT: \(fix)")
        let command = fix.components(separatedBy: "  #").first ?? fix
        if !command.isEmpty {
            let applied = try firewalld.shell(command)
            #expect(applied.succeeded, "`\(command)`: \(applied.stdout) \(applied.stderr)")
            let opened = try waitUntil(timeout: .seconds(3), interval: .milliseconds(100)) { try firewalld.clientReaches() }
            #expect(opened, "fwdwatch's fix, applied as printed, opens the port: \(command)")
            if command.hasPrefix("iptables -I ") {
                try firewalld.shell("iptables -D " + command.dropFirst("iptables -I ".count))
            }
        }
        count = daemon.all.count
        try firewalld.firewallCmd(["--direct", "--remove-rule"] + direct)
        #expect(try firewalld.waitUntilClientReaches(), "removing the direct rule heals")
        try expectClean(firewalld, "direct rule removed")
        if daemon.activeKeys.contains("published-port-unreachable \(Self.subject)") {
            #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.subject) != nil)
        }
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
        try expectConverged(daemon, host, quiet: .seconds(1), "healed: the daemon and check agree")
        #expect(daemon.activeKeys.isEmpty, "nothing left raised: \(daemon.activeKeys)")
        #expect(daemon.isRunning, "stderr: \(daemon.stderr)")
    }

    /// The forward-chain hop of 10001/tcp from eth0 in one check's port table.
    func forwardHop(_ check: CheckOutput) -> [String: Any]? {
        for entry in check.publishedPorts {
            guard let port = entry["port"] as? [String: Any], let range = port["hostPorts"] as? [String: Any],
                range["first"] as? Int == FirewalldHost.port
            else { continue }
            let paths = entry["paths"] as? [[String: Any]] ?? []
            let hops = paths.first { $0["ingress"] as? String == "eth0" }?["hops"] as? [[String: Any]] ?? []
            return hops.first { $0["name"] as? String == "forward-chain" }
        }
        return nil
    }

    /// The client gets a 200; check exits 0 with no warning or critical finding; the path does not fail.
    func expectClean(_ firewalld: FirewalldHost, _ name: String) throws {
        #expect(try firewalld.waitUntilClientReaches(), "\(name): the client reaches the port")
        let check = try CheckOutput(firewalld.host)
        #expect(check.status == 0, "\(name): check exits 0:\n\(stackCheckText(firewalld.host))")
        #expect(stackAlarms(check) == [], "\(name): no alarm:\n\(stackCheckText(firewalld.host))")
        #expect(check.pathBroken(Self.subject, from: "eth0") == false, "\(name): the path passes")
    }
}

fileprivate extension DaemonProcess {
    /// Alert records logged after the first `count` records.
    func alerts(after count: Int) -> [[String: Any]] {
        all.dropFirst(count).filter { $0["type"] as? String == "alert" }
    }
}
