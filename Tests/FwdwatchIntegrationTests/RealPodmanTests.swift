import Foundation
import Testing

/// fwdwatch against Debian 12's real podman 4.3 + netavark 1.4 (rootful, isolated in namespaces and a
/// temporary directory: see `PodmanEngine`), with `busybox httpd` in a container published as `-p 10002:80`
/// and a client on the uplink. On the healthy host fwdwatch must be silent and list the port; each breakage
/// is proved real with traffic (curl from the client, or from the container to the client), and fwdwatch
/// (check, explain, the daemon) must name the right rule, port, ingress and hop, and clear it after the heal.
///
/// Where fwdwatch gets a real engine wrong, the expectation below is the truth and the test fails until
/// fwdwatch is fixed (the comments say what it printed).
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealPodmanTests {
    static let port = PodmanEngine.subject

    /// Builds the engine with the web container running and reachable, hands it to `body`, removes it.
    func withRunningPodman(_ body: (PodmanEngine, _ target: String) throws -> Void) throws {
        let engine = try PodmanEngine()
        defer { engine.delete() }
        let address = try engine.runWebContainer()
        #expect(address.hasPrefix("10.88."), "podman's default network hands out 10.88.0.0/16, got \(address)")
        #expect(
            try engine.waitUntilClientReaches(),
            "the client must reach the published port: \((try? engine.clientStatus()) ?? "?")")
        try body(engine, "\(address):80")
    }

    // MARK: The healthy host

    /// netavark acts in the namespace podman runs in: podman0, its address, and the NETAVARK chains are in
    /// the host namespace and nowhere in the machine's. Then: the client reaches the port, check is clean
    /// (exit 0, no warning or critical finding) and lists 10002/tcp -> <container>:80 with ingress eth0,
    /// explain passes, and a daemon raises nothing.
    @Test func healthyHostIsCleanAndStaysInItsNamespace() throws {
        let machineBefore = try MachineNetworkTrace(bridge: PodmanEngine.bridge, ruleWord: "NETAVARK")
        try withRunningPodman { engine, target in
            // Where netavark acted.
            let bridge = try engine.host.ip(["-4", "-o", "address", "show", "dev", PodmanEngine.bridge]).stdout
            #expect(bridge.contains("10.88.0.1/16"), "podman0 in the host namespace: \(bridge)")
            let rules = try engine.iptablesSave()
            #expect(rules.contains("-A FORWARD -m comment --comment \"netavark firewall plugin rules\" -j NETAVARK_FORWARD"), "\(rules)")
            #expect(rules.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT"), "\(rules)")
            #expect(rules.contains("-j DNAT --to-destination \(target)"), "\(rules)")
            #expect(try engine.host.sysctl("net.ipv4.ip_forward") == "1", "netavark turns forwarding on in its namespace")
            // The machine's namespace is as it was: no podman0, no NETAVARK rule, ip_forward untouched.
            #expect(try MachineNetworkTrace(bridge: PodmanEngine.bridge, ruleWord: "NETAVARK") == machineBefore)

            // Check.
            // Check and explain.
            let published = try expectHealthyPublishedPort(engine, target: target, bridge: PodmanEngine.bridge, "healthy podman host")
            #expect(published.rule.contains("NETAVARK-DN-"), "the DNAT is netavark's: \(published)")
            #expect(published.owner == "netavark", "fwdwatch tells the stack: \(published)")
            let text = stackCheckText(engine.host)
            #expect(text.contains("10002/tcp -> \(target): eth0 ok"), "\(text)")

            // The daemon.
            let daemon = try startDaemon(in: engine.host)
            defer { daemon.stop() }
            expectDaemonQuiet(daemon, "podman host")
            #expect(try engine.clientReaches(), "still reachable at the end")
        }
    }

    // MARK: Breakages

    /// `net.ipv4.conf.eth0.forwarding=0` (the incident): the client times out; check names
    /// published-port-unreachable 10002/tcp at ingress-forwarding from eth0 and
    /// interface-forwarding-disabled eth0; the daemon raises both; the heal clears them.
    @Test func uplinkForwardingOffIsNamed() throws {
        try withRunningPodman { engine, target in
            let daemon = try startDaemon(in: engine.host)
            defer { daemon.stop() }

            try engine.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
            #expect(try !engine.clientReaches(), "the breakage must be real")
            let broken = try CheckOutput(engine.host)
            #expect(broken.status == 2)
            let port = try #require(broken.finding("published-port-unreachable", subject: Self.port), "\(broken.keys)")
            #expect(port.evidence["ingress"] == "eth0")
            #expect(port.evidence["hop"] == "ingress-forwarding")
            #expect(port.evidence["target"] == target)
            #expect(port.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
            let interface = try #require(broken.finding("interface-forwarding-disabled", subject: "eth0"), "\(broken.keys)")
            #expect(interface.evidence["ports"]?.contains("10002/tcp") == true, "\(interface.evidence)")
            #expect(broken.keys == ["published-port-unreachable 10002/tcp", "interface-forwarding-disabled eth0"])
            let explained = try explain(engine.host, Self.port)
            #expect(explained.stdout.contains("BROKEN ingress-forwarding net.ipv4.conf.eth0.forwarding=0"), "\(explained.stdout)")
            #expect(daemon.waitForAlert("raised", rule: "published-port-unreachable", subject: Self.port) != nil)
            #expect(daemon.waitForAlert("raised", rule: "interface-forwarding-disabled", subject: "eth0") != nil)

            let count = daemon.all.count
            try engine.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
            #expect(try engine.waitUntilClientReaches(timeout: .seconds(10)))
            #expect(try CheckOutput(engine.host).keys.isEmpty)
            #expect(daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.port) != nil)
            #expect(daemon.waitForAlert(from: count, "resolved", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
            try expectConverged(daemon, engine.host, quiet: .seconds(2), "the daemon and check agree after the heal")
        }
    }

    /// `iptables -P FORWARD DROP` (what Docker does on a shared host: podman #4834). netavark 1.4 accepts only
    /// replies (`-d 10.88.0.0/16 ctstate RELATED,ESTABLISHED`) and the containers' own traffic (`-s
    /// 10.88.0.0/16`), so a new connection from the client to the port hits the policy: the client times out.
    /// The truth: published-port-unreachable 10002/tcp from eth0 at hop forward-chain, with a fix that does
    /// not mention DOCKER-USER (there is no such chain on a podman host).
    ///
    /// fwdwatch (built 2026-12-06 from 68c376c and the tree of that day) reports nothing and exits 0: the forward-chain
    /// hop is undecided, "? forward-chain dropped by the iptables-nft ip filter FORWARD policy DROP (no rule accepts
    /// it) for some clients (it depends on iptables-nft ip filter NETAVARK_FORWARD #2 (-A NETAVARK_FORWARD -s
    /// 10.88.0.0/16 -j ACCEPT))". No client that reaches the port through eth0 can carry a source in podman0's own
    /// subnet (its replies would stay on podman0), so the rule that "depends on the client" accepts none of them.
    @Test func forwardPolicyDropIsNamedAtTheForwardChain() throws {
        try withRunningPodman { engine, target in
            let daemon = try startDaemon(in: engine.host)
            defer { daemon.stop() }

            try engine.host.exec(["iptables", "-P", "FORWARD", "DROP"])
            #expect(try !engine.clientReaches(), "the breakage must be real")
            let broken = try CheckOutput(engine.host)
            let explained = try explain(engine.host, Self.port)
            let shown = "check: \(stackCheckText(engine.host))\nexplain: \(explained.stdout)"
            #expect(broken.status == 2, "\(shown)")
            let port = broken.finding("published-port-unreachable", subject: Self.port)
            #expect(port != nil, "fwdwatch does not name the FORWARD policy DROP: \(shown)")
            #expect(port?.evidence["ingress"] == "eth0")
            #expect(port?.evidence["hop"] == "forward-chain", "\(shown)")
            #expect(port?.evidence["target"] == target)
            for finding in broken.findings {
                #expect(!(finding.fix ?? "").contains("DOCKER-USER"), "no DOCKER-USER on a podman host: \(finding.fix ?? "")")
                #expect(!finding.message.contains("DOCKER-USER"), "no DOCKER-USER on a podman host: \(finding.message)")
            }
            #expect(explained.stdout.contains("BROKEN forward-chain"), "\(explained.stdout)")
            #expect(!explained.stdout.contains("DOCKER-USER"), "\(explained.stdout)")
            #expect(
                daemon.waitForAlert("raised", rule: "published-port-unreachable", subject: Self.port, timeout: .seconds(5))
                    != nil)

            // Where fwdwatch does decide: netavark's `-s 10.88.0.0/16 -j ACCEPT` deleted as well (the container's
            // own outbound traffic now dies too), the drop depends on no client. This is what fwdwatch says for a
            // podman host's FORWARD drop: the port at forward-chain, forward-chain-blocks-bridge podman0, and the
            // fix `iptables -I FORWARD -i eth0 -o podman0 -d <container> -p tcp --dport 80 -j ACCEPT`.
            let containerAccept = ["NETAVARK_FORWARD", "-s", PodmanEngine.bridgeSubnet, "-j", "ACCEPT"]
            try engine.host.exec(["iptables", "-D"] + containerAccept)
            #expect(try !engine.clientReaches(), "the breakage must be real")
            let decided = try CheckOutput(engine.host)
            let decidedText = stackCheckText(engine.host)
            #expect(decided.status == 2, "\(decidedText)")
            let decidedPort = try #require(
                decided.finding("published-port-unreachable", subject: Self.port), "\(decidedText)")
            #expect(decidedPort.evidence["ingress"] == "eth0")
            #expect(decidedPort.evidence["hop"] == "forward-chain")
            #expect(decidedPort.evidence["target"] == target)
            let address = target.split(separator: ":")[0]
            #expect(
                decidedPort.fix?.hasPrefix("iptables -I FORWARD -i eth0 -o podman0 -d \(address) -p tcp --dport 80 -j ACCEPT")
                    == true, "\(decidedPort.fix ?? "no fix")")
            #expect(decided.finding("forward-chain-blocks-bridge", subject: PodmanEngine.bridge) != nil, "\(decided.keys)")
            for finding in decided.findings {
                #expect(!(finding.fix ?? "").contains("DOCKER-USER"), "no DOCKER-USER on a podman host: \(finding.fix ?? "")")
                #expect(!finding.message.contains("DOCKER-USER"), "no DOCKER-USER on a podman host: \(finding.message)")
            }
            #expect(daemon.waitForAlert("raised", rule: "published-port-unreachable", subject: Self.port) != nil)

            let count = daemon.all.count
            try engine.host.exec(["iptables", "-A"] + containerAccept)
            try engine.host.exec(["iptables", "-P", "FORWARD", "ACCEPT"])
            #expect(try engine.waitUntilClientReaches(timeout: .seconds(10)))
            #expect(try CheckOutput(engine.host).keys.isEmpty)
            #expect(
                daemon.waitForAlert(from: count, "resolved", rule: "published-port-unreachable", subject: Self.port) != nil)
            try expectConverged(daemon, engine.host, quiet: .seconds(2), "the daemon and check agree after the heal")
        }
    }

    /// netavark's MASQUERADE for 10.88.0.0/16 (`-A NETAVARK-<hash> ! -d 224.0.0.0/4 -j MASQUERADE`, reached
    /// from `POSTROUTING -s 10.88.0.0/16`) deleted: the container's own connection to the client gets no
    /// reply (the client has no route back to 10.88.0.0/16) while the published port still works. The truth:
    /// masquerade-missing 10.88.0.0/16 on podman0 leaving by eth0, and nothing about the port.
    ///
    /// fwdwatch (built 2026-12-06 from 68c376c and the tree of that day) reports nothing and exits 0: the postrouting
    /// walk also meets netavark's `NETAVARK-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE`, treats the mark
    /// as unknown and counts it as a possible masquerade. A container's own outbound packet never carries 0x2000: only
    /// NETAVARK-HOSTPORT-SETMARK sets it, reached from nat PREROUTING/OUTPUT for a local destination (`addrtype
    /// --dst-type LOCAL`) and a published port, which 192.0.2.20 is not. (Measured: with the marked MASQUERADE deleted
    /// too, fwdwatch does name masquerade-missing 10.88.0.0/16 leaving by eth0.)
    @Test func masqueradeRemovedIsNamed() throws {
        try withRunningPodman { engine, _ in
            let server = try NamespaceWebServer(engine.client, address: PodmanEngine.clientAddress, port: 8080)
            defer { server.stop() }
            #expect(
                try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) {
                    try engine.containerReachesClient(port: 8080)
                }, "the container reaches the client through netavark's MASQUERADE: \(server.diagnosis)")
            let daemon = try startDaemon(in: engine.host)
            defer { daemon.stop() }

            // netavark's rule, as iptables-save prints it: the unmarked MASQUERADE in the chain that
            // POSTROUTING -s 10.88.0.0/16 jumps to.
            let nat = try engine.iptablesSave()
            let jump = try #require(
                nat.split(separator: "\n").first { $0.hasPrefix("-A POSTROUTING -s \(PodmanEngine.bridgeSubnet) -j ") },
                "netavark's postrouting jump: \(nat)")
            let chain = String(jump.split(separator: " ").last ?? "")
            let masquerade = try #require(
                nat.split(separator: "\n").first { $0.hasPrefix("-A \(chain) ") && $0.hasSuffix("-j MASQUERADE") },
                "netavark's MASQUERADE in \(chain): \(nat)")
            let ruleSpec = masquerade.split(separator: " ").dropFirst().map(String.init)  // chain and the match
            try engine.host.exec(["iptables", "-t", "nat", "-D"] + ruleSpec)

            #expect(try !engine.containerReachesClient(port: 8080), "the breakage must be real")
            #expect(try engine.clientReaches(), "the published port does not need it")
            let broken = try CheckOutput(engine.host)
            let shown = "check: \(stackCheckText(engine.host))\nrules: \(try engine.iptablesSave())"
            #expect(broken.status == 1, "\(shown)")
            let finding = broken.finding("masquerade-missing", subject: PodmanEngine.bridgeSubnet)
            #expect(finding != nil, "fwdwatch does not name the missing MASQUERADE: \(shown)")
            #expect(finding?.evidence["bridge"] == PodmanEngine.bridge)
            #expect(finding?.evidence["uplink"] == "eth0")
            #expect(broken.finding("published-port-unreachable") == nil, "\(broken.keys)")
            #expect(
                daemon.waitForAlert(
                    "raised", rule: "masquerade-missing", subject: PodmanEngine.bridgeSubnet, timeout: .seconds(5)) != nil)

            let count = daemon.all.count
            try engine.host.exec(["iptables", "-t", "nat", "-A"] + ruleSpec)
            #expect(try waitUntil(timeout: .seconds(10), interval: .milliseconds(100)) {
                try engine.containerReachesClient(port: 8080)
            })
            #expect(try CheckOutput(engine.host).keys.isEmpty)
            if finding != nil {
                #expect(
                    daemon.waitForAlert(from: count, "resolved", rule: "masquerade-missing", subject: PodmanEngine.bridgeSubnet)
                        != nil)
            }
            try expectConverged(daemon, engine.host, quiet: .seconds(2), "the daemon and check agree after the heal")
        }
    }
}
