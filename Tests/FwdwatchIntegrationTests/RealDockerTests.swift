import Foundation
import Testing

/// fwdwatch on a REAL Docker engine: Debian 12's dockerd 20.10 (docker.io) runs inside a namespace the test
/// creates (`RealDockerHost`, `DockerEngine`), with the default bridge docker0 holding `web` (`-p 10001:80`) and a
/// user network `appnet` holding `api` (`-p 10003:80`), the way every docker-compose project leaves a host. Every
/// other Docker test loads recorded rules; here the rules, bridges, veths and sysctls are the ones the engine
/// itself wrote.
///
/// A healthy host must be clean for `fwdwatch check`, `explain` and a running daemon. Each breakage is proved real
/// with curl from the client namespace first, then must be named for the right port, ingress and hop only (the
/// other network's port stays unreported, by check and by the daemon), and healing must clear it.
///
/// One engine is shared by all steps of a test (dockerd starts in about a second here, but each test pays for
/// the image and the containers); the steps run in order and each one heals before the next.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealDockerTests {
    static let web = "10001/tcp"
    static let api = "10003/tcp"

    // MARK: The whole story on one engine

    @Test func healthyHostIsCleanAndEachBreakageIsNamedForItsPortOnly() throws {
        try requireInstalled(RealDockerHost.self)
        let docker = try RealDockerHost()
        defer { docker.delete() }

        try expectHealthyHost(docker)

        let daemon = try startDaemon(in: docker.host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, "real Docker host")

        try uplinkForwardingOff(docker, daemon)
        try dockerUserDropForOneNetwork(docker, daemon)
        try dockerUserDropForOneAddress(docker, daemon)
        try apiVethDetached(docker, daemon)
        try strictReversePathFilterWithAnAsymmetricRoute(docker, daemon)

        // After every heal the host is as healthy as at the start, for check and for the daemon.
        let end = try CheckOutput(docker.host)
        #expect(end.status == 0 && end.keys.isEmpty, "healthy again at the end: \(end.keys)")
        try expectDaemonSettled(daemon, docker.host, "at the end")
    }

    /// `--userland-proxy=false`: no docker-proxy runs, and Docker's nat rules change shape: the DNATs lose their
    /// `! -i <bridge>` and the per-bridge `-i <bridge> -j RETURN` rules are gone (so a container reaches its own
    /// published port through the host's address: hairpin NAT), with a MASQUERADE for `--src-type LOCAL` per
    /// bridge. A container on the other network is then DNATed too and dropped by Docker's own
    /// DOCKER-ISOLATION-STAGE-2: Docker isolates its networks by design, as it does with the proxy on. The host
    /// is healthy and must be clean, with eth0 the only ingress of each port.
    ///
    /// Known false alarm (fwdwatch at the time of writing): without the RETURN rules the nat walk makes each
    /// other Docker bridge an ingress of every port, and the isolation drop is reported as a broken path:
    /// `published-port-unreachable 10001/tcp` (ingress br-<appnet>, hop forward-chain, "dropped by ...
    /// DOCKER-ISOLATION-STAGE-2 #2 (-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP)"), the same for 10003/tcp from
    /// docker0, and `forward-chain-blocks-bridge` for both bridges, all critical, `check` exits 2, `explain`
    /// exits 2, and the fix offered punches a hole in Docker's isolation (`iptables -I DOCKER-USER -i br-... -o
    /// docker0 ... -j ACCEPT`). These expectations are the truth and fail until the walk leaves out, like the
    /// RETURNed bridges, the other Docker bridges whose traffic Docker's isolation chains drop on purpose.
    @Test func userlandProxyOffIsClean() throws {
        try requireInstalled(RealDockerHost.self)
        let docker = try RealDockerHost(dockerdArguments: ["--userland-proxy=false"])
        defer { docker.delete() }
        let proxies = try docker.host.exec(["sh", "-c", "ls -l /proc/[0-9]*/exe 2>/dev/null | grep -c docker-proxy"], check: false)
        #expect(proxies.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "no docker-proxy runs")
        let nat = try docker.host.exec(["iptables-save", "-t", "nat"]).stdout
        #expect(nat.contains("-A DOCKER -p tcp -m tcp --dport 10001 -j DNAT --to-destination \(docker.webAddress):80"), "\(nat)")
        #expect(!nat.contains("-j RETURN"), "no per-bridge RETURN without the proxy: \(nat)")
        try expectHealthyHost(docker)

        // What Docker does on purpose: hairpin NAT within a network, isolation between networks.
        #expect(try containerGets(docker, from: "web", port: RealDockerHost.webPort), "web reaches its own port (hairpin)")
        #expect(try containerGets(docker, from: "api", port: RealDockerHost.apiPort), "api reaches its own port (hairpin)")
        #expect(try !containerGets(docker, from: "api", port: RealDockerHost.webPort), "Docker isolates appnet from docker0")

        let daemon = try startDaemon(in: docker.host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, "real Docker host")
    }

    /// Whether `container` gets a 200 from the host's uplink address at `port` (busybox nc: its wget crashes in
    /// this image, which has no /etc).
    func containerGets(_ docker: RealDockerHost, from container: String, port: Int) throws -> Bool {
        let request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 2 nc \(RealDockerHost.hostAddress) \(port)"
        let result = try docker.engine.docker(["exec", container, "sh", "-c", request], timeout: .seconds(10), check: false)
        return result.stdout.hasPrefix("HTTP/1.1 200") || result.stdout.hasPrefix("HTTP/1.0 200")
    }

    /// "rule subject (ingress, hop)" of each alert record, for messages.
    func alertSummary(_ alerts: [[String: Any]]) -> [String] {
        alerts.map { alert in
            let evidence = alert["evidence"] as? [String: String] ?? [:]
            return "\(alert["state"] as? String ?? "") \(alert["rule"] as? String ?? "") \(alert["subject"] as? String ?? "")"
                + " (ingress \(evidence["ingress"] ?? "-"), hop \(evidence["hop"] ?? "-"), \(evidence["dropped_by"] ?? ""))"
        }
    }

    // MARK: Healthy

    /// Both ports answer the client; `check --json` exits 0 with no warning or critical finding and lists both
    /// ports with their targets, ingress eth0 only (not the other network's bridge, not docker0) and the right
    /// egress bridge; `explain` exits 0 for both.
    func expectHealthyHost(_ docker: RealDockerHost) throws {
        #expect(try docker.waitUntilClientReaches(port: RealDockerHost.webPort), "web: \(docker.engine.log.suffix(2000))")
        #expect(try docker.waitUntilClientReaches(port: RealDockerHost.apiPort), "api: \(docker.engine.log.suffix(2000))")

        let check = try expectCheckClean(docker.host, "healthy real Docker host")

        let table = publishedPortTable(check)
        #expect(Set(table.keys) == [Self.web, Self.api], "both ports and no other: \(table.keys.sorted())")
        #expect(table[Self.web]?.target == "\(docker.webAddress):80")
        #expect(table[Self.api]?.target == "\(docker.apiAddress):80")
        #expect(table[Self.web]?.owner == "docker")
        #expect(table[Self.api]?.owner == "docker")
        #expect(table[Self.web]?.ingresses == ["eth0"], "docker0's port comes in from eth0 only, not from \(docker.appBridge)")
        #expect(table[Self.api]?.ingresses == ["eth0"], "appnet's port comes in from eth0 only, not from docker0")
        #expect(table[Self.web]?.egresses == ["docker0"])
        #expect(table[Self.api]?.egresses == [docker.appBridge])
        #expect(check.pathBroken(Self.web, from: "eth0") == false)
        #expect(check.pathBroken(Self.api, from: "eth0") == false)

        try expectExplainPasses(docker.host, Self.web, target: "\(docker.webAddress):80", bridge: "docker0")
        try expectExplainPasses(docker.host, Self.api, target: "\(docker.apiAddress):80", bridge: docker.appBridge)
    }

    // MARK: Breakages

    /// `net.ipv4.conf.eth0.forwarding=0`: both ports, from eth0, at ingress-forwarding (plus the interface's own
    /// finding); nothing about the bridges.
    func uplinkForwardingOff(_ docker: RealDockerHost, _ daemon: DaemonProcess) throws {
        try breakage(
            "uplink forwarding 0", docker, daemon,
            breakIt: { try docker.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0") },
            heal: { try docker.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1") },
            broken: [Self.web: "ingress-forwarding", Self.api: "ingress-forwarding"],
            expectedKeys: [
                "interface-forwarding-disabled eth0", "published-port-unreachable \(Self.web)",
                "published-port-unreachable \(Self.api)",
            ]
        ) { check in
            let uplink = check.finding("interface-forwarding-disabled", subject: "eth0")
            #expect(uplink?.evidence["ports"] == "\(Self.web),\(Self.api)", "\(uplink?.evidence ?? [:])")
            #expect(uplink?.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        }
    }

    /// `iptables -I DOCKER-USER -o br-<appnet> -j DROP`: only 10003/tcp, at forward-chain, plus
    /// forward-chain-blocks-bridge for appnet's bridge; docker0's 10001/tcp stays clean.
    func dockerUserDropForOneNetwork(_ docker: RealDockerHost, _ daemon: DaemonProcess) throws {
        try dockerUserDropForApi(
            "DOCKER-USER drop for appnet's bridge", docker, daemon, match: ["-o", docker.appBridge],
            printed: "-A DOCKER-USER -o \(docker.appBridge) -j DROP")
    }

    /// `iptables -I DOCKER-USER -d <api's address> -j DROP`: only 10003/tcp.
    func dockerUserDropForOneAddress(_ docker: RealDockerHost, _ daemon: DaemonProcess) throws {
        try dockerUserDropForApi(
            "DOCKER-USER drop for api's address", docker, daemon, match: ["-d", docker.apiAddress],
            printed: "-A DOCKER-USER -d \(docker.apiAddress)/32 -j DROP")
    }

    /// `iptables -I DOCKER-USER <match> -j DROP` hitting only api's traffic (iptables -S prints it as `printed`):
    /// only 10003/tcp at forward-chain, plus forward-chain-blocks-bridge for appnet's bridge.
    func dockerUserDropForApi(
        _ name: String, _ docker: RealDockerHost, _ daemon: DaemonProcess, match: [String], printed: String
    ) throws {
        let rule = ["DOCKER-USER"] + match + ["-j", "DROP"]
        try breakage(
            name, docker, daemon,
            breakIt: { try docker.host.exec(["iptables", "-I"] + rule) },
            heal: { try docker.host.exec(["iptables", "-D"] + rule) },
            broken: [Self.api: "forward-chain"],
            expectedKeys: ["published-port-unreachable \(Self.api)", "forward-chain-blocks-bridge \(docker.appBridge)"]
        ) { check in
            try expectDockerUserDropNamed(check, docker, rule: printed)
        }
    }

    /// The drop is named by its place and text, and the fix speaks Docker's chain.
    func expectDockerUserDropNamed(_ check: CheckOutput, _ docker: RealDockerHost, rule: String) throws {
        let port = try #require(check.finding("published-port-unreachable", subject: Self.api))
        #expect(port.message.contains(rule), "\(port.message)")
        #expect(port.fix?.hasPrefix("iptables -I DOCKER-USER ") == true, "\(port.fix ?? "no fix")")
        let bridge = try #require(check.finding("forward-chain-blocks-bridge", subject: docker.appBridge))
        #expect(bridge.evidence["bridge"] == docker.appBridge)
        #expect(bridge.evidence["ports"] == Self.api, "only appnet's port: \(bridge.evidence)")
        #expect(bridge.evidence["ingress"] == "eth0")
        #expect(bridge.evidence["dropped_by"]?.contains(rule) == true, "\(bridge.evidence)")
    }

    /// `ip link set <api's veth> nomaster`: appnet's bridge loses its only port (and its carrier); the client's
    /// ARP for api goes unanswered. 10003/tcp is named at bridge-ports, the loose veth by veth-detached, and the
    /// unanswered neighbour by dnat-target-not-answering for 10003/tcp (once the client's SYN made the kernel ask);
    /// the kernel may report the carrier-less bridge too. Nothing about docker0 or 10001/tcp.
    func apiVethDetached(_ docker: RealDockerHost, _ daemon: DaemonProcess) throws {
        let veth = try docker.engine.hostVeth(of: "api")
        let bridgePorts = try docker.host.ip(["-o", "link", "show", "master", docker.appBridge]).stdout
        #expect(bridgePorts.contains(veth), "\(veth) is appnet's port: \(bridgePorts)")
        try breakage(
            "api's veth detached from its bridge", docker, daemon,
            breakIt: { try docker.host.ip(["link", "set", veth, "nomaster"]) },
            heal: { try docker.host.ip(["link", "set", veth, "master", docker.appBridge]) },
            broken: [Self.api: "bridge-ports"],
            expectedKeys: ["published-port-unreachable \(Self.api)", "veth-detached \(veth)"],
            allowedKeys: ["dnat-target-not-answering \(Self.api)", "bridge-no-carrier \(docker.appBridge)"],
            // veth-detached and bridge-no-carrier raise in the daemon only once they persisted 5 s.
            quiet: .seconds(6)
        ) { check in
            let port = try #require(check.finding("published-port-unreachable", subject: Self.api))
            #expect(port.message.contains(docker.appBridge), "\(port.message)")
            let loose = check.finding("veth-detached", subject: veth)
            #expect(loose?.evidence["master"] == "none", "\(loose?.evidence ?? [:])")
            if let neighbour = check.finding("dnat-target-not-answering", subject: Self.api) {
                #expect(neighbour.evidence["target"] == "\(docker.apiAddress):80")
                #expect(neighbour.evidence["iface"] == docker.appBridge)
            }
        }
    }

    /// A second uplink `eth1` takes the default route and the client comes in on eth0 from 203.0.113.7, beyond
    /// eth0's subnet; with rp_filter=1 on eth0 its SYNs are dropped while a client on eth0's own subnet still
    /// gets through. An rp_filter belongs to the ingress, so both ports are broken from eth0 (at rp-filter), and
    /// neither from eth1. Loose mode (2) heals; eth1 is removed again afterwards.
    func strictReversePathFilterWithAnAsymmetricRoute(_ docker: RealDockerHost, _ daemon: DaemonProcess) throws {
        let host = docker.host, client = docker.client
        let distant = "203.0.113.7"
        let savedRPFilter = try ["all", "default", "eth0"].map { ($0, try host.sysctl("net.ipv4.conf.\($0).rp_filter")) }
        try host.addVethPair("eth1", "eth1", peerNamespace: client)
        try host.addAddress("198.51.100.10/24", to: "eth1")
        try client.addAddress("198.51.100.1/24", to: "eth1")
        try host.setSysctl("net.ipv4.conf.eth1.forwarding", "1")
        try host.ip(["route", "replace", "default", "via", "198.51.100.1", "dev", "eth1"])
        try client.addAddress("\(distant)/32", to: "lo")
        for namespace in [host, client] {
            for interface in ["all", "default", "eth0", "eth1"] {
                try namespace.setSysctl("net.ipv4.conf.\(interface).rp_filter", "0")
            }
        }
        for port in [RealDockerHost.webPort, RealDockerHost.apiPort] {
            #expect(try docker.waitUntilClientReaches(port: port, from: distant), "healthy from beyond eth0's subnet")
        }
        let before = try CheckOutput(host)
        #expect(before.keys.isEmpty, "a second uplink is healthy: \(before.keys)")
        try expectConverged(daemon, host, quiet: .seconds(1), "the daemon and check agree with a second uplink")

        try breakage(
            "strict rp_filter with an asymmetric route", docker, daemon, source: distant,
            breakIt: {
                try host.setSysctl("net.ipv4.conf.eth0.rp_filter", "1")
                #expect(try docker.clientReaches(port: RealDockerHost.webPort), "a client on eth0's own subnet still passes")
            },
            heal: { try host.setSysctl("net.ipv4.conf.eth0.rp_filter", "2") },
            broken: [Self.web: "rp-filter", Self.api: "rp-filter"],
            expectedKeys: [
                "published-port-unreachable \(Self.web)", "published-port-unreachable \(Self.api)",
                "rp-filter-strict-asymmetric eth0",
            ]
        ) { check in
            for subject in [Self.web, Self.api] {
                #expect(check.pathBroken(subject, from: "eth1") == false, "eth1 holds the default route: not affected")
                let finding = check.finding("published-port-unreachable", subject: subject)
                #expect(finding?.fix?.contains("net.ipv4.conf.eth0.rp_filter=2") == true, "\(finding?.fix ?? "no fix")")
            }
            #expect(check.finding("rp-filter-strict-asymmetric", subject: "eth0")?.evidence["default_route_interface"] == "eth1")
        }

        // Back to the one-uplink host.
        try host.ip(["route", "replace", "default", "via", RealDockerHost.clientAddress, "dev", "eth0"])
        try host.deleteLink("eth1")
        try client.ip(["address", "del", "\(distant)/32", "dev", "lo"])
        for (interface, value) in savedRPFilter { try host.setSysctl("net.ipv4.conf.\(interface).rp_filter", value) }
        #expect(try docker.waitUntilClientReaches(port: RealDockerHost.webPort))
        #expect(try docker.waitUntilClientReaches(port: RealDockerHost.apiPort))
    }

    /// One breakage, start to end:
    /// 1. `breakIt`; every port in `broken` fails for the client (from `source` when given) and every other port
    ///    still answers: the breakage is real and only where it should be.
    /// 2. `check --json` exits 2; each broken port has published-port-unreachable from eth0 at its hop with its
    ///    target; the findings are exactly `expectedKeys` (plus any of `allowedKeys`); no finding names an
    ///    unbroken port or its bridge; the unbroken ports' paths pass; then `more` runs on the same output.
    /// 3. The daemon raises published-port-unreachable for each broken port (ingress and hop in its evidence),
    ///    raises nothing for another port, and agrees with check.
    /// 4. `heal`; every port answers again, check is clean, the daemon resolves what it raised and agrees.
    func breakage(
        _ name: String, _ docker: RealDockerHost, _ daemon: DaemonProcess, source: String? = nil,
        breakIt: () throws -> Void, heal: () throws -> Void, broken: [String: String], expectedKeys: Set<String>,
        allowedKeys: Set<String> = [], quiet: Duration = .seconds(1), _ more: (CheckOutput) throws -> Void = { _ in }
    ) throws {
        let ports: [String: Int] = [Self.web: RealDockerHost.webPort, Self.api: RealDockerHost.apiPort]
        let targets = [Self.web: "\(docker.webAddress):80", Self.api: "\(docker.apiAddress):80"]
        let bridges = [Self.web: "docker0", Self.api: docker.appBridge]
        let unbroken = Set(ports.keys).subtracting(broken.keys)
        let count = daemon.all.count

        try breakIt()
        for (subject, port) in ports.sorted(by: { $0.key < $1.key }) {
            if broken[subject] != nil {
                #expect(try !docker.clientReaches(port: port, from: source), "\(name): the breakage of \(subject) must be real")
            } else {
                #expect(try docker.clientReaches(port: port, from: source), "\(name): \(subject) must still answer")
            }
        }

        let check = try CheckOutput(docker.host)
        #expect(check.status == 2, "\(name): check exits 2: \(check.keys)")
        for (subject, hop) in broken.sorted(by: { $0.key < $1.key }) {
            let finding = check.finding("published-port-unreachable", subject: subject)
            #expect(finding != nil, "\(name): \(subject) must be named: \(check.keys)")
            #expect(finding?.evidence["ingress"] == "eth0", "\(name): \(finding?.evidence ?? [:])")
            #expect(finding?.evidence["hop"] == hop, "\(name): \(subject): \(finding?.message ?? "")")
            #expect(finding?.evidence["target"] == targets[subject], "\(name): \(finding?.evidence ?? [:])")
            #expect(check.pathBroken(subject, from: "eth0") == true, "\(name): \(subject) from eth0")
        }
        let extra = check.keys.subtracting(expectedKeys).subtracting(allowedKeys)
        #expect(expectedKeys.isSubset(of: check.keys), "\(name): missing \(expectedKeys.subtracting(check.keys)); got \(check.keys)")
        #expect(extra.isEmpty, "\(name): nothing else is named: \(extra)\n\(findingsText(check, extra))")
        for subject in unbroken {
            let bridge = bridges[subject] ?? ""
            let mentions = check.findings.filter { finding in
                finding.subject == subject || finding.subject == bridge || finding.interface == bridge
                    || finding.evidence["bridge"] == bridge
                    || finding.evidence["ports"]?.split(separator: ",").contains(Substring(subject)) == true
            }
            #expect(mentions.isEmpty, "\(name): \(subject) and \(bridge) stay unreported: \(mentions.map { "\($0.rule) \($0.subject)" })")
            #expect(check.pathBroken(subject, from: "eth0") == false, "\(name): \(subject)'s path passes")
        }
        try more(check)

        for (subject, hop) in broken.sorted(by: { $0.key < $1.key }) {
            let raised = daemon.waitForAlert(from: count, "raised", rule: "published-port-unreachable", subject: subject)
            #expect(raised != nil, "\(name): the daemon raises \(subject): \(daemon.activeKeys)")
            let evidence = raised?["evidence"] as? [String: String]
            #expect(evidence?["hop"] == hop, "\(name): the daemon's hop: \(evidence ?? [:])")
            #expect(evidence?["ingress"] == "eth0", "\(name): the daemon's ingress: \(evidence ?? [:])")
        }
        try expectConverged(daemon, docker.host, quiet: quiet, "\(name): the daemon and check agree")
        let strays = daemon.alerts(since: count).filter { alert in
            let subject = alert["subject"] as? String ?? ""
            return unbroken.contains(subject) || unbroken.contains { bridges[$0] == subject }
        }
        #expect(alertSummary(strays) == [], "\(name): the daemon says nothing about \(unbroken.sorted())")

        let healedAt = daemon.all.count
        try heal()
        for (subject, port) in ports.sorted(by: { $0.key < $1.key }) {
            #expect(try docker.waitUntilClientReaches(port: port, from: source), "\(name): \(subject) answers after the heal")
        }
        let healed = try CheckOutput(docker.host)
        #expect(healed.status == 0 && healed.keys.isEmpty, "\(name): clean after the heal: \(healed.keys)")
        for subject in broken.keys.sorted() {
            #expect(
                daemon.waitForAlert(from: healedAt, "resolved", rule: "published-port-unreachable", subject: subject) != nil,
                "\(name): the daemon resolves \(subject)")
        }
        try expectConverged(daemon, docker.host, quiet: .seconds(1), "\(name): the daemon and check agree after the heal")
        #expect(daemon.activeKeys.isEmpty, "\(name): the daemon holds nothing after the heal: \(daemon.activeKeys)")
    }

    // MARK: Reading check's output

    func findingsText(_ check: CheckOutput, _ keys: Set<String>) -> String {
        check.findings.filter { keys.contains("\($0.rule) \($0.subject)") }
            .map { "\($0.rule) \($0.subject): \($0.message) \($0.evidence)" }.joined(separator: "\n")
    }
}
