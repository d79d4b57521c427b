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

    @Test func healthyIsCleanAndUfwBreakagesAreNamed() throws {
        try requireInstalled(UfwHost.self)
        // Nothing left: no process of ours, no namespace, the machine's own namespace as it was.
        try expectLeavesNothing(machineBridge: "docker0", ruleWord: "ufw", UfwHost.init, story)
    }

    func story(_ ufw: UfwHost) throws {
        let host = ufw.host
        let engine = try #require(ufw.engine)
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
        #expect(try ufw.waitUntilClientReaches(), "the client reaches 10001: \(engine.log.suffix(2000))")

        // 2. Healthy.
        try expectHealthyPublishedPort(ufw, target: web, bridge: "docker0", "healthy ufw + Docker")

        let daemon = try startDaemon(in: host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, "ufw + Docker host")

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
        try expectUplinkForwardingOffNamed(ufw, daemon, target: web, label: "RealUfwTests")

        // 5. The ufw-docker hook: ufw's route rules now govern the port.
        try ufw.installDockerHook()
        let hooked = try host.exec(["iptables", "-S", "DOCKER-USER"]).stdout
        #expect(hooked.contains("-A DOCKER-USER -j ufw-user-forward"), "\(hooked)")
        #expect(try ufw.waitUntilClientReaches(), "the hook alone changes nothing")
        try expectClean(ufw, "ufw-docker hook, no deny")
        waitForQuiet(daemon, quiet: .seconds(2))
        #expect(daemon.activeKeys.isEmpty, "\(daemon.activeKeys)")

        var count = daemon.all.count
        try ufw.ufw(deny)
        #expect(try !ufw.clientReaches(), "ufw route deny through the hook: the breakage must be real")
        let ufwRule = "-A ufw-user-forward -d \(ufw.webAddress)/32 -p tcp -m tcp --dport 80 -j DROP"
        let (denied, port) = try expectForwardChainDropNamed(
            host, daemon, since: count, subject: Self.subject, target: web, bridge: "docker0", rule: ufwRule, "ufw route deny")
        let bridge = denied.finding("forward-chain-blocks-bridge", subject: "docker0")
        #expect(bridge?.evidence["dropped_by"]?.contains(ufwRule) == true, "\(bridge?.evidence ?? [:])")

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
        let command = fixCommand(fix)
        if !command.isEmpty {
            try expectFixOpensPort(command, apply: { try ufw.holder.script($0, check: false) }, reaches: ufw.clientReaches)
            try ufw.ufw(["reload"])
            #expect(try ufw.clientReaches(), "fwdwatch's fix lasts across `ufw reload`: \(command)")
        }

        // Heal the ufw way (whatever the fix left, the deny goes).
        count = daemon.all.count
        try ufw.ufw(["route", "delete", "deny", "proto", "tcp", "from", "any", "to", ufw.webAddress, "port", "80"])
        #expect(try ufw.waitUntilClientReaches(), "ufw route delete deny heals")
        try expectClean(ufw, "ufw route deny deleted")
        expectResolvedIfHeld(daemon, from: count, rule: "published-port-unreachable", subject: Self.subject)
        try expectDaemonSettled(daemon, host, "healed")
    }
}
