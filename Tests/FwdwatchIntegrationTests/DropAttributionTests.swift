import Foundation
import FwdwatchJournal
import FwdwatchTestFixtures
import Testing

/// Drop attribution against real traffic (issue 14): the incident's topology with Docker's recorded rules, a web
/// server in the container and a client on the uplink. `fwdwatch check --sample 3 --json` runs with `[drops]
/// enabled = true` (the BPF probe attached to skb:kfree_skb) while the client connects; each breakage must be
/// attributed to the published port, the ingress and the kernel's reason, with the client, and only the
/// namespace fwdwatch runs in counts.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct DropAttributionTests {
    static let rules = RecordedFixture.path(RecordedFixture.docker2010Rules)

    /// `fwdwatch check` with drops on, started in the background in `namespace`, sampling for `seconds`.
    final class BackgroundCheck: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<ShellResult, any Error> = .failure(CancellationError())

        init(_ namespace: NetworkNamespace, config: String, seconds: Int = 3, arguments: [String]? = nil) {
            let command =
                arguments ?? ["check", "--json", "--sample", String(seconds), "--config", config]
            Thread.detachNewThread { [self] in
                result = Result { try namespace.exec([fwdwatchBinary()] + command, timeout: .seconds(60), check: false) }
                done.signal()
            }
        }

        func wait() throws -> ShellResult {
            done.wait()
            return try result.get()
        }

        /// The JSON document of `check --json`.
        func document() throws -> [String: Any] {
            let output = try wait()
            let parsed = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
            return try #require(parsed, "stdout: \(output.stdout) stderr: \(output.stderr)")
        }
    }

    static func writeConfig() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-drops-\(randomSuffix()).toml").path
        try "[drops]\nenabled = true\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The incident's host with Docker's rules and the container serving port 80, reachable from the client.
    static func dockerHost(prefix: String = "fwd") throws -> (IncidentTopology, NamespaceWebServer) {
        let topology = try IncidentTopology(prefix: prefix)
        try topology.host.exec(["iptables-restore"], input: try String(contentsOfFile: rules, encoding: .utf8))
        let server = try NamespaceWebServer(topology.container, address: IncidentTopology.containerAddress, port: 80)
        #expect(
            try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try clientReaches(topology) },
            "\(server.diagnosis)")
        return (topology, server)
    }

    /// The client connects to `address:port` once (the SYN and its retransmit after 1 s), after the probe had
    /// time to attach.
    static func connect(from client: NetworkNamespace, to address: String = IncidentTopology.hostAddress, port: Int = 10001, source: String? = nil)
        throws
    {
        Thread.sleep(forTimeInterval: 1.0)
        try client.exec(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "1.6"] + (source.map { ["--interface", $0] } ?? [])
                + ["http://\(address):\(port)/"], check: false)
    }

    static func observations(_ document: [String: Any]) -> [(port: String, ingress: String, reason: String, count: Int, clients: [String])] {
        (document["dropObservations"] as? [[String: Any]] ?? []).map {
            (
                $0["port"] as? String ?? "", $0["ingress"] as? String ?? "", $0["reason"] as? String ?? "",
                $0["count"] as? Int ?? 0, $0["clients"] as? [String] ?? []
            )
        }
    }

    static func findings(_ document: [String: Any]) -> [(key: String, evidence: [String: String])] {
        (document["findings"] as? [[String: Any]] ?? []).map { finding in
            let evidence = (finding["evidence"] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["value"] ?? "") }
            return (
                "\(finding["rule"] as? String ?? "") \(finding["subject"] as? String ?? "")",
                Dictionary(evidence, uniquingKeysWith: { first, _ in first })
            )
        }
    }

    @Test("the incident: the client's SYNs to 10001/tcp are dropped on eth0 as IP_INADDRERRORS, in check and explain")
    func incident() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try !clientReaches(topology), "the breakage must be real")

        let check = BackgroundCheck(topology.host, config: config)
        try Self.connect(from: topology.client)
        let document = try check.document()
        let seen = Self.observations(document)
        let incident = try #require(seen.first { $0.port == "10001/tcp" }, "\(document["drops"] ?? "no drops")")
        #expect(incident.ingress == "eth0")
        #expect(incident.reason == "IP_INADDRERRORS")
        #expect(incident.count >= 1)
        #expect(incident.clients == [IncidentTopology.clientAddress])
        // The findings that explain it carry the drops; no published-port-dropping on top.
        let findings = Self.findings(document)
        #expect(findings.map(\.key).sorted() == ["interface-forwarding-disabled eth0", "published-port-unreachable 10001/tcp"])
        for finding in findings {
            #expect(finding.evidence["drop_reason"] == "IP_INADDRERRORS", "\(finding.key)")
            #expect(finding.evidence["drop_clients"] == IncidentTopology.clientAddress, "\(finding.key)")
            #expect(Int(finding.evidence["drops"] ?? "") ?? 0 >= 1, "\(finding.key)")
        }

        // explain watches the drops first and names the client and the reason.
        let explain = BackgroundCheck(
            topology.host, config: config, arguments: ["explain", "10001/tcp", "--sample", "3", "--config", config])
        try Self.connect(from: topology.client)
        let text = try explain.wait().stdout
        #expect(text.contains("drops in the last"), "\(text)")
        #expect(text.contains("eth0 IP_INADDRERRORS:"), "\(text)")
        #expect(text.contains("from \(IncidentTopology.clientAddress)"), "\(text)")
    }

    @Test("strict rp_filter on a second uplink with the default route elsewhere: IP_RPFILTER on that uplink")
    func strictReversePath() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (topology, server) = try Self.dockerHost()
        let distant = try NetworkNamespace(prefix: "fwd-far")
        defer {
            server.stop()
            distant.delete()
            topology.delete()
        }
        // eth1 198.51.100.10/24 to a client that sends from 203.0.113.5, an address the host routes out of eth0.
        try topology.host.addVethPair("eth1", "eth0", peerNamespace: distant)
        try topology.host.addAddress("198.51.100.10/24", to: "eth1")
        try distant.addAddress("198.51.100.1/24", to: "eth0")
        try distant.addAddress("203.0.113.5/32", to: "lo")
        // ARP from the link's own address, as a router in front of a distant client does (an ARP request from
        // 203.0.113.5 would itself fail the strict reverse-path check, and the SYN would never be sent).
        try distant.setSysctl("net.ipv4.conf.all.arp_announce", "2")
        try topology.host.setSysctl("net.ipv4.conf.eth1.forwarding", "1")
        try topology.host.setSysctl("net.ipv4.conf.all.rp_filter", "0")
        try topology.host.setSysctl("net.ipv4.conf.eth1.rp_filter", "1")

        let check = BackgroundCheck(topology.host, config: config)
        try Self.connect(from: distant, to: "198.51.100.10", source: "203.0.113.5")
        let document = try check.document()
        let seen = Self.observations(document)
        let dropped = try #require(seen.first { $0.ingress == "eth1" }, "\(document["drops"] ?? "no drops")")
        #expect(dropped.port == "10001/tcp")
        #expect(dropped.reason == "IP_RPFILTER")
        #expect(dropped.clients == ["203.0.113.5"])
        let findings = Self.findings(document)
        let strict = try #require(findings.first { $0.key == "rp-filter-strict-asymmetric eth1" }, "\(findings.map(\.key))")
        #expect(strict.evidence["drop_reason"] == "IP_RPFILTER")
        #expect(!findings.contains { $0.key.hasPrefix("published-port-dropping") })
    }

    @Test("a DOCKER-USER drop: NETFILTER_DROP on eth0, evidence of forward-chain-blocks-bridge")
    func dockerUserDrop() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        try topology.host.exec(["iptables", "-I", "DOCKER-USER", "-i", "eth0", "-j", "DROP"])
        #expect(try !clientReaches(topology), "the breakage must be real")

        let check = BackgroundCheck(topology.host, config: config)
        try Self.connect(from: topology.client)
        let document = try check.document()
        let dropped = try #require(Self.observations(document).first, "\(document["drops"] ?? "no drops")")
        #expect(dropped.port == "10001/tcp")
        #expect(dropped.ingress == "eth0")
        #expect(dropped.reason == "NETFILTER_DROP")
        #expect(dropped.clients == [IncidentTopology.clientAddress])
        let findings = Self.findings(document)
        let blocked = try #require(findings.first { $0.key == "forward-chain-blocks-bridge docker0" }, "\(findings.map(\.key))")
        #expect(blocked.evidence["drop_reason"] == "NETFILTER_DROP")
        #expect(!findings.contains { $0.key.hasPrefix("published-port-dropping") })
    }

    @Test("a drop no rule models (-m statistic: undecided) is still reported, through its victims")
    func unmodelledDrop() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        try topology.host.exec(
            ["iptables", "-I", "DOCKER-USER", "-m", "statistic", "--mode", "random", "--probability", "1", "-j", "DROP"])
        #expect(try !clientReaches(topology), "the breakage must be real")
        let quiet = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null"], check: false)
        #expect(quiet.status == 0, "the model alone cannot decide it: \(quiet.stdout)")

        let check = BackgroundCheck(topology.host, config: config)
        try Self.connect(from: topology.client)
        let document = try check.document()
        let findings = Self.findings(document)
        let dropping = try #require(findings.first { $0.key == "published-port-dropping 10001/tcp" }, "\(findings.map(\.key))")
        #expect(dropping.evidence["drop_reason"] == "NETFILTER_DROP")
        #expect(dropping.evidence["drop_clients"] == IncidentTopology.clientAddress)
        #expect(dropping.evidence["ingress"] == "eth0")
    }

    @Test("healthy traffic gives nothing; a port nobody publishes is seen by the probe but is no finding")
    func healthyAndUnpublished() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        let check = BackgroundCheck(topology.host, config: config)
        Thread.sleep(forTimeInterval: 1.0)
        #expect(try clientReaches(topology))
        try Self.connect(from: topology.client, port: 9999)
        let output = try check.wait()
        #expect(output.status == 0, "\(output.stdout)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        #expect((document["findings"] as? [Any])?.isEmpty == true)
        #expect(Self.observations(document).isEmpty)
        // The probe did see the refused connection to 9999 (NO_SOCKET): attributed to no published port.
        let counts = (document["drops"] as? [String: Any])?["counts"] as? [[String: Any]] ?? []
        let flows = counts.compactMap { $0["flow"] as? [String: Any] }
        #expect(flows.contains { $0["destinationPort"] as? Int == 9999 && $0["reason"] as? String == "NO_SOCKET" }, "\(counts)")
        #expect(!flows.contains { $0["destinationPort"] as? Int == 10001 }, "\(counts)")
    }

    @Test("drops in another network namespace are not counted")
    func otherNamespace() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let (ours, ourServer) = try Self.dockerHost(prefix: "fwd-a")
        let (theirs, theirServer) = try Self.dockerHost(prefix: "fwd-b")
        defer {
            ourServer.stop()
            theirServer.stop()
            ours.delete()
            theirs.delete()
        }
        // The same addresses and port in both; only theirs is broken.
        try theirs.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let ourCheck = BackgroundCheck(ours.host, config: config)
        let theirCheck = BackgroundCheck(theirs.host, config: config)
        try Self.connect(from: theirs.client)
        let theirDocument = try theirCheck.document()
        let ourDocument = try ourCheck.document()
        // Their probe saw the drops (the traffic was real) ...
        #expect(Self.observations(theirDocument).contains { $0.port == "10001/tcp" && $0.reason == "IP_INADDRERRORS" })
        // ... ours, attached at the same time on the same kernel, counted nothing.
        let ourCounts = (ourDocument["drops"] as? [String: Any])?["counts"] as? [Any]
        #expect(ourCounts?.isEmpty == true, "\(ourDocument["drops"] ?? "no drops")")
        #expect((ourDocument["findings"] as? [Any])?.isEmpty == true)
    }

    static let daemonConfig = "[drops]\nenabled = true\n[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n"

    @Test("the daemon: in the incident a notice names the client, the port, the ingress and the reason within a sweep")
    func daemonIncident() throws {
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        let daemon = try DaemonProcess(namespace: topology.host, configText: Self.daemonConfig)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        #expect(!daemon.notices.contains { $0["message_id"] as? String == JournalMessageID.dropsUnavailable })
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(daemon.waitForAlert("raised", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
        let mark = daemon.count
        let sent = ContinuousClock.now
        try topology.client.exec(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "1", "http://192.0.2.10:10001/"], check: false)
        let notice = daemon.waitFor(from: mark, timeout: .seconds(5)) {
            $0["message_id"] as? String == JournalMessageID.dropsObserved
        }
        let seen = ContinuousClock.now - sent
        let fields = try #require(notice?["fields"] as? [String: String], "\(daemon.all.suffix(5))")
        print("DropAttributionTests: SYN sent -> drop notice in \(seen) (sweep 1 s)")
        #expect(seen < .seconds(2.5), "within one sweep (1 s) of the first SYN, plus the curl's own second")
        #expect(fields["FWDWATCH_PORT"] == "10001/tcp")
        #expect(fields["FWDWATCH_INGRESS"] == "eth0")
        #expect(fields["FWDWATCH_DROP_REASON"] == "IP_INADDRERRORS")
        #expect(fields["FWDWATCH_DROP_CLIENTS"] == IncidentTopology.clientAddress)
    }

    @Test("the daemon: a drop no rule models raises published-port-dropping from its victims, and it resolves")
    func daemonUnmodelledDrop() throws {
        let (topology, server) = try Self.dockerHost()
        defer {
            server.stop()
            topology.delete()
        }
        let daemon = try DaemonProcess(namespace: topology.host, configText: Self.daemonConfig)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        try topology.host.exec(
            ["iptables", "-I", "DOCKER-USER", "-m", "statistic", "--mode", "random", "--probability", "1", "-j", "DROP"])
        try topology.client.exec(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "http://192.0.2.10:10001/"], check: false)
        let raised = try #require(
            daemon.waitForAlert("raised", rule: "published-port-dropping", subject: "10001/tcp", timeout: .seconds(5)),
            "\(daemon.all.suffix(5))")
        let evidence = raised["evidence"] as? [String: String] ?? [:]
        #expect(evidence["drop_reason"] == "NETFILTER_DROP")
        #expect(evidence["drop_clients"] == IncidentTopology.clientAddress)
        // No more drops: after the minute the window holds, it resolves.
        try topology.host.exec(
            ["iptables", "-D", "DOCKER-USER", "-m", "statistic", "--mode", "random", "--probability", "1", "-j", "DROP"])
        #expect(
            daemon.waitForAlert("resolved", rule: "published-port-dropping", subject: "10001/tcp", timeout: .seconds(75))
                != nil)
    }

    @Test("without CAP_BPF the probe says once why it is off, and check runs on")
    func unprivileged() throws {
        let config = try Self.writeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config)
        let topology = try IncidentTopology(prefix: "fwd-np")
        defer { topology.delete() }
        let result = try topology.host.exec(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
             fwdwatchBinary(), "check", "--sample", "1", "--config", config], check: false)
        #expect(result.status != 3, "stdout: \(result.stdout) stderr: \(result.stderr)")
        let notices = result.stderr.split(separator: "\n").filter { $0.contains("drop attribution is off") }
        #expect(notices.count == 1, "\(result.stderr)")
        #expect(notices.first?.contains("CAP_BPF") == true, "\(result.stderr)")
    }
}
