import Foundation
import Testing

/// fwdwatch on REAL ufw 0.36 with a REAL Docker 20.10 on top (see `UfwHost`): ufw enabled with Debian's default
/// policies (FORWARD policy DROP), dockerd started after it with one container `-p 10001:80`, a client on the
/// uplink. This is the host the recorded fixture `ufw-0.36-docker-20.10` came from, now with traffic.
///
/// What is proved, in order, on one host:
/// 1. ufw acts in the test's namespace only; Docker's FORWARD rules come before ufw's; the client gets a 200.
/// 2. Healthy: `check` exits 0 with no warning or critical finding and lists 10001/tcp -> web:80 with ingress
///    eth0; `explain` passes; a daemon raises nothing.
/// 3. `ufw route deny` for the container's port, without anything tying ufw to Docker: the client still gets a
///    200 (Docker's accept comes first: the well-known "Docker bypasses ufw"); fwdwatch must stay clean.
/// 4. Uplink forwarding 0: the client times out; named at ingress-forwarding from eth0 with the sysctl fix.
/// 5. The ufw-docker hook in after.rules (DOCKER-USER -> ufw-user-forward): still healthy and clean. Then the
///    same `ufw route deny` does break the port (curl times out): named at forward-chain from eth0, the ufw
///    rule quoted. The fix must speak ufw and work: applied as printed, the client gets a 200, and still
///    after `ufw reload` (a hand-made iptables rule in DOCKER-USER is gone after a reload: after.rules
///    redeclares the chain).
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealUfwTests {
    static let subject = UfwHost.subject
    static let daemonConfig = "[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n"

    @Test func healthyIsCleanAndUfwBreakagesAreNamed() throws {
        try #require(UfwHost.missingPackages.isEmpty, "not installed: \(UfwHost.missingPackages.joined(separator: ", ")); scripts/test.sh installs them")
        let machineBefore = try MachineNetworkTrace(bridge: "docker0", ruleWord: "ufw")
        let namespacesBefore = namespaces(prefixed: "fwt-ufw-")
        var ownPIDs: [pid_t] = []
        var scratch = "", engineDirectory = ""
        do {
            let ufw = try UfwHost()
            defer { ufw.delete() }
            ownPIDs = [ufw.holder.pid, ufw.engine.pid]
            scratch = ufw.directory
            engineDirectory = ufw.engine.directory
            try story(ufw)
        }
        // Nothing left: no process of ours, no namespace, the machine's own namespace as it was.
        for pid in ownPIDs { #expect(!processIsAlive(pid), "process \(pid) is gone") }
        for directory in [scratch, engineDirectory] {
            #expect(pidsWithCommandLine(containing: directory).isEmpty, "nothing runs from \(directory)")
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is removed")
        }
        #expect(namespaces(prefixed: "fwt-ufw-") == namespacesBefore, "the test's namespaces are deleted")
        #expect(try MachineNetworkTrace(bridge: "docker0", ruleWord: "ufw") == machineBefore, "the machine's namespace is untouched")
    }

    func story(_ ufw: UfwHost) throws {
        let host = ufw.host
        let web = "\(ufw.webAddress):80"

        // 1. Where ufw acted, and in which order the chains are.
        let status = try ufw.ufw(["status", "verbose"]).stdout
        #expect(status.contains("Status: active"), "\(status)")
        let rules = try host.exec(["iptables-save", "-t", "filter"]).stdout
        #expect(rules.contains(":FORWARD DROP"), "ufw's routed policy DROP: \(rules)")
        let forward = rules.split(separator: "\n").filter { $0.hasPrefix("-A FORWARD ") }.map(String.init)
        let dockerUser = forward.firstIndex(of: "-A FORWARD -j DOCKER-USER")
        let ufwFirst = forward.firstIndex(of: "-A FORWARD -j ufw-before-logging-forward")
        #expect(dockerUser != nil && ufwFirst != nil && dockerUser! < ufwFirst!, "Docker's FORWARD rules come first: \(forward)")
        #expect(try ufw.waitUntilClientReaches(), "the client reaches 10001: \(ufw.engine.log.suffix(2000))")

        // 2. Healthy.
        try expectClean(ufw, "healthy ufw + Docker")
        let check = try CheckOutput(host)
        #expect(publishedSubjects(check) == [Self.subject], "\(check.stdout.prefix(1500))")
        #expect(ingresses(check, of: Self.subject) == ["eth0"], "\(check.stdout.prefix(1500))")
        let explain = try host.exec([fwdwatchBinary(), "explain", Self.subject, "--config", "/dev/null"], check: false)
        #expect(explain.status == 0, "\(explain.stdout)\(explain.stderr)")
        #expect(explain.stdout.contains("\(Self.subject) -> \(web)"), "\(explain.stdout)")
        #expect(explain.stdout.contains("from eth0 to docker0: ok"), "\(explain.stdout)")

        let daemon = try DaemonProcess(namespace: host, configText: Self.daemonConfig)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        waitForQuiet(daemon, quiet: .seconds(3))
        #expect(daemon.alerts.isEmpty, "the daemon raised on a healthy ufw + Docker host: \(daemon.alerts)")

        // 3. `ufw route deny` alone does not reach Docker's traffic.
        let deny = ["route", "deny", "proto", "tcp", "from", "any", "to", ufw.webAddress, "port", "80"]
        try ufw.ufw(deny)
        let userForward = try host.exec(["iptables", "-S", "ufw-user-forward"]).stdout
        #expect(userForward.contains("-A ufw-user-forward -d \(ufw.webAddress)/32 -p tcp -m tcp --dport 80 -j DROP"), "\(userForward)")
        #expect(try ufw.clientReaches(), "Docker's accept comes before ufw's chains: the deny never sees the port")
        try expectClean(ufw, "ufw route deny that Docker bypasses")
        #expect(daemon.alerts.isEmpty, "the daemon raised on a port that still works: \(daemon.alerts)")
        try ufw.ufw(["route", "delete", "deny", "proto", "tcp", "from", "any", "to", ufw.webAddress, "port", "80"])

        // 4. Uplink forwarding 0.
        var count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try !ufw.clientReaches(), "uplink forwarding 0: the breakage must be real")
        let off = try CheckOutput(host)
        #expect(off.status == 2, "\(stackCheckText(host))")
        let offPort = off.finding("published-port-unreachable", subject: Self.subject)
        #expect(offPort?.evidence["ingress"] == "eth0", "\(off.keys)")
        #expect(offPort?.evidence["hop"] == "ingress-forwarding", "\(offPort?.message ?? "not named")")
        #expect(offPort?.evidence["target"] == web)
        #expect(off.finding("interface-forwarding-disabled", subject: "eth0")?.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(off.keys == ["published-port-unreachable \(Self.subject)", "interface-forwarding-disabled eth0"], "\(off.keys)")
        let raised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: Self.subject)
        #expect((raised?["evidence"] as? [String: String])?["hop"] == "ingress-forwarding", "\(daemon.activeKeys)")
        try expectConverged(daemon, host, quiet: .seconds(1), "uplink forwarding 0: the daemon and check agree")
        count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        #expect(try ufw.waitUntilClientReaches())
        #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.subject) != nil)
        try expectClean(ufw, "uplink forwarding healed")

        // 5. The ufw-docker hook: ufw's route rules now govern the port.
        try ufw.installDockerHook()
        let hooked = try host.exec(["iptables", "-S", "DOCKER-USER"]).stdout
        #expect(hooked.contains("-A DOCKER-USER -j ufw-user-forward"), "\(hooked)")
        #expect(try ufw.waitUntilClientReaches(), "the hook alone changes nothing")
        try expectClean(ufw, "ufw-docker hook, no deny")
        waitForQuiet(daemon, quiet: .seconds(2))
        #expect(daemon.activeKeys.isEmpty, "\(daemon.activeKeys)")

        count = daemon.all.count
        try ufw.ufw(deny)
        #expect(try !ufw.clientReaches(), "ufw route deny through the hook: the breakage must be real")
        let denied = try CheckOutput(host)
        #expect(denied.status == 2, "\(stackCheckText(host))")
        let ufwRule = "-A ufw-user-forward -d \(ufw.webAddress)/32 -p tcp -m tcp --dport 80 -j DROP"
        let port = try #require(denied.finding("published-port-unreachable", subject: Self.subject), "\(denied.keys)")
        #expect(port.evidence["ingress"] == "eth0")
        #expect(port.evidence["hop"] == "forward-chain", "\(port.message)")
        #expect(port.evidence["target"] == web)
        #expect(port.message.contains(ufwRule), "the ufw rule is quoted: \(port.message)")
        let bridge = denied.finding("forward-chain-blocks-bridge", subject: "docker0")
        #expect(bridge?.evidence["dropped_by"]?.contains(ufwRule) == true, "\(bridge?.evidence ?? [:])")
        #expect(denied.keys == ["published-port-unreachable \(Self.subject)", "forward-chain-blocks-bridge docker0"], "\(denied.keys)")
        let deniedRaised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: Self.subject)
        #expect((deniedRaised?["evidence"] as? [String: String])?["hop"] == "forward-chain", "\(daemon.activeKeys)")
        try expectConverged(daemon, host, quiet: .seconds(1), "ufw route deny: the daemon and check agree")

        // The fix speaks ufw, and it works and lasts. Before 58ded48 fwdwatch printed `iptables -I DOCKER-USER
        // -i eth0 -o docker0 -d <web> -p tcp --dport 80 -j ACCEPT  # or remove the rule that drops it`: it opened
        // the port at once but `ufw reload` flushed it (after.rules redeclares DOCKER-USER); its ufw form then
        // (`ufw route allow in on eth0 out on docker0 ...`, printed where no DOCKER-USER exists) did not work
        // either: ufw appends the allow after the deny, first match wins. Since 58ded48 it prints `ufw route
        // insert 1 allow in on eth0 out on docker0 to <web> port 80 proto tcp  # or delete the ufw route rule
        // that denies it (ufw status numbered)`, which passes both checks below.
        let fix = port.fix ?? ""
        print("RealUfwTests: fwdwatch's fix for the ufw route deny: \(fix)")
        #expect(fix.hasPrefix("ufw "), "the fix speaks ufw: \(fix)")
        let command = fix.components(separatedBy: "  #").first ?? fix
        if !command.isEmpty {
            try holderShell(ufw, command)
            let opened = try waitUntil(timeout: .seconds(3), interval: .milliseconds(100)) { try ufw.clientReaches() }
            #expect(opened, "fwdwatch's fix, applied as printed, opens the port: \(command)")
            try ufw.ufw(["reload"])
            #expect(try ufw.clientReaches(), "fwdwatch's fix lasts across `ufw reload`: \(command)")
        }

        // Heal the ufw way (whatever the fix left, the deny goes).
        count = daemon.all.count
        try ufw.ufw(["route", "delete", "deny", "proto", "tcp", "from", "any", "to", ufw.webAddress, "port", "80"])
        #expect(try ufw.waitUntilClientReaches(), "ufw route delete deny heals")
        try expectClean(ufw, "ufw route deny deleted")
        if deniedRaised != nil, daemon.activeKeys.contains("published-port-unreachable \(Self.subject)") {
            #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.subject) != nil)
        }
        try expectConverged(daemon, host, quiet: .seconds(1), "healed: the daemon and check agree")
        #expect(daemon.activeKeys.isEmpty, "nothing left raised: \(daemon.activeKeys)")
        #expect(daemon.isRunning, "stderr: \(daemon.stderr)")
    }

    /// Runs `command` (a fix line) in the ufw mount namespace.
    func holderShell(_ ufw: UfwHost, _ command: String) throws {
        let result = try ufw.holder.script(command, check: false)
        #expect(result.succeeded, "`\(command)` failed: \(result.stdout) \(result.stderr)")
    }

    /// The client gets a 200; check exits 0 with no warning or critical finding.
    func expectClean(_ ufw: UfwHost, _ name: String) throws {
        #expect(try ufw.waitUntilClientReaches(), "\(name): the client reaches the port")
        let check = try CheckOutput(ufw.host)
        #expect(check.status == 0, "\(name): check exits 0:\n\(stackCheckText(ufw.host))")
        #expect(stackAlarms(check) == [], "\(name): no alarm:\n\(stackCheckText(ufw.host))")
        #expect(check.pathBroken(Self.subject, from: "eth0") == false, "\(name): the path passes")
    }
}
