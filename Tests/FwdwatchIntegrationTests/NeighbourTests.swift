import CNetlink
import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchNetlink

/// The neighbour (ARP) table: the netlink watcher and dump against real kernel state, and
/// `dnat-target-not-answering` against real traffic to a container that stops answering.
@Suite("Neighbour table", .serialized, .enabled(if: isRoot, rootRequired))
struct NeighbourTests {
    static let rules = RecordedFixture.path(RecordedFixture.docker2010Rules)

    // MARK: Netlink

    @Test("The watcher publishes a neighbour that starts or stops failing at once; other changes ride along")
    func watcherFollowsNeighbours() async throws {
        let local = try NetworkNamespace(prefix: "fwt-nb")
        defer { local.delete() }
        let peer = try NetworkNamespace(prefix: "fwt-nbp")
        defer { peer.delete() }
        try local.addVethPair("v0", "v1", peerNamespace: peer)
        try local.addAddress("10.66.0.1/24", to: "v0")
        try peer.addAddress("10.66.0.2/24", to: "v1")
        let peerMAC = try linkAddress(of: "v1", in: peer)

        let watcher = NetlinkWatcher(namespacePath: local.path)
        defer { watcher.stop() }
        let log = UpdateLog(try watcher.updates())
        #expect(await eventually { log.initialState != nil }, "no initial state")
        let initial = try #require(log.initialState)
        let v0 = try #require(initial.link("v0")).index
        #expect(initial.neighbours.isEmpty, "\(initial.neighbours)")
        var forwarding = 0
        /// A change that is always published: flips net.ipv4.conf.v0.forwarding.
        func publishSomething() throws {
            forwarding = 1 - forwarding
            try local.setSysctl("net.ipv4.conf.v0.forwarding", String(forwarding))
        }

        // Traffic resolves the peer: REACHABLE with its MAC, in a dump at once; the watcher applies it
        // without an update of its own (nothing a finding depends on), and publishes it with the next one.
        try sendDatagram(to: "10.66.0.2", from: local)
        let resolved = Neighbour(interfaceIndex: v0, address: "10.66.0.2", state: .reachable, linkAddress: peerMAC)
        #expect(try NetlinkDump.read(namespacePath: local.path).neighbours == [resolved])
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.changedCount == 0, "an answering neighbour was published on its own")
        try publishSomething()
        #expect(
            await eventually(timeout: .seconds(5)) { log.latestState?.neighbours == [resolved] },
            "the resolved entry never rode along: \(log.latestState?.neighbours ?? [])")

        // REACHABLE -> STALE: the same.
        var published = log.changedCount
        try local.ip(["neigh", "replace", "10.66.0.2", "dev", "v0", "lladdr", peerMAC, "nud", "stale"])
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.changedCount == published, "a REACHABLE -> STALE change was published on its own")
        try publishSomething()
        #expect(
            await eventually(timeout: .seconds(5)) { log.latestState?.neighbours.first?.state == .stale },
            "the STALE state never rode along: \(log.latestState?.neighbours ?? [])")

        // The peer loses its address; once the cached entry is gone, resolution fails: FAILED, no MAC,
        // published on its own.
        try peer.ip(["address", "del", "10.66.0.2/24", "dev", "v1"])
        try local.ip(["neigh", "del", "10.66.0.2", "dev", "v0"])
        try sendDatagram(to: "10.66.0.2", from: local)
        let failed = Neighbour(interfaceIndex: v0, address: "10.66.0.2", state: .failed, linkAddress: nil)
        #expect(
            await eventually(timeout: .seconds(10)) { log.latestState?.neighbours == [failed] },
            "never failed: \(log.latestState?.neighbours ?? [])")

        // A permanent entry answers: no update of its own.
        published = log.changedCount
        try local.ip(["neigh", "add", "10.66.0.9", "dev", "v0", "lladdr", "02:00:00:00:00:09", "nud", "permanent"])
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.changedCount == published, "a permanent entry was published on its own")

        // The peer's address comes back: the next datagram resolves it, and leaving FAILED is published
        // on its own, with the permanent entry riding along.
        try peer.addAddress("10.66.0.2/24", to: "v1")
        try sendDatagram(to: "10.66.0.2", from: local)
        let permanent = Neighbour(
            interfaceIndex: v0, address: "10.66.0.9", state: .permanent, linkAddress: "02:00:00:00:00:09")
        #expect(
            await eventually(timeout: .seconds(10)) { log.latestState?.neighbours == [resolved, permanent] },
            "never recovered: \(log.latestState?.neighbours ?? [])")

        let settled = await eventually(timeout: .seconds(5)) {
            (try? NetlinkDump.read(namespacePath: local.path)) == log.latestState
        }
        #expect(settled, "watcher state differs from a fresh dump")
        #expect(log.resyncReasons.isEmpty, "unexpected resyncs: \(log.resyncReasons)")
        #expect(log.failures.isEmpty, "failures: \(log.failures)")
        #expect(watcher.skippedMessages == 0)
    }

    @Test("Pure: which neighbour changes are published on their own")
    func changesThatMatter() {
        let reachable = Neighbour(
            interfaceIndex: 3, address: "172.17.0.2", state: .reachable, linkAddress: "02:42:ac:11:00:02")
        var stale = reachable
        stale.state = .stale
        var failed = reachable
        failed.state = .failed
        failed.linkAddress = nil
        var incomplete = failed
        incomplete.state = .incomplete
        #expect(NeighbourChange.mattersToRules(from: reachable, to: failed))
        #expect(NeighbourChange.mattersToRules(from: incomplete, to: reachable))
        #expect(NeighbourChange.mattersToRules(from: nil, to: failed))
        #expect(NeighbourChange.mattersToRules(from: incomplete, to: nil))
        #expect(!NeighbourChange.mattersToRules(from: nil, to: reachable))
        #expect(!NeighbourChange.mattersToRules(from: stale, to: nil))
        #expect(!NeighbourChange.mattersToRules(from: reachable, to: stale))
        #expect(!NeighbourChange.mattersToRules(from: failed, to: incomplete))
        #expect(!NeighbourChange.mattersToRules(from: nil, to: nil))
        #expect(LibnlObjects.neighbourState(0x20) == .failed)
        #expect(LibnlObjects.neighbourState(0x03) == nil, "a combination of states is no state")
    }

    // MARK: The container stops answering

    @Test("A container stops answering ARP: check and the daemon name dnat-target-not-answering; healing clears it")
    func containerStopsAnswering() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.exec(["iptables-restore"], input: try String(contentsOfFile: Self.rules, encoding: .utf8))
        // Short neighbour timers on docker0, so a cached REACHABLE entry is re-probed within seconds
        // rather than the default 15-45 s; the states the kernel goes through are the same.
        for (key, value) in [
            ("base_reachable_time_ms", "1000"), ("delay_first_probe_time", "1"), ("retrans_time_ms", "250"),
        ] {
            try topology.host.setSysctl("net.ipv4.neigh.\(IncidentTopology.bridge).\(key)", value)
        }
        let server = try NamespaceWebServer(topology.container, address: IncidentTopology.containerAddress, port: 80)
        defer { server.stop() }
        #expect(
            try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try clientReaches(topology) },
            "the server never answered: \(server.diagnosis)")
        let healthy = try check(topology)
        #expect(healthy.findings["dnat-target-not-answering"] == nil)
        #expect(healthy.neighbourHop?["passes"] as? Bool == true, "\(healthy.neighbourHop ?? [:])")

        let daemon = try DaemonProcess(
            namespace: topology.host, configText: "[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n")
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        #expect(!daemon.activeKeys.contains("dnat-target-not-answering 10001/tcp"))

        // The container keeps its link but loses its address: ARP for 172.17.0.2 goes unanswered.
        try topology.container.ip(["address", "del", "\(IncidentTopology.containerAddress)/16", "dev", "eth0"])
        #expect(try !clientReaches(topology), "the breakage must be real")
        var broken: CheckResult?
        #expect(
            try waitUntil(timeout: .seconds(20), interval: .milliseconds(200)) {
                _ = try clientReaches(topology)  // keeps the kernel asking
                broken = try check(topology)
                return broken?.findings["dnat-target-not-answering"] != nil
            }, "check never reported the target: \(broken?.neighbourHop ?? [:])")
        let finding = try #require(broken?.findings["dnat-target-not-answering"])
        #expect(finding["subject"] as? String == "10001/tcp")
        #expect(finding["severity"] as? String == "warning")
        let evidence = Self.evidence(finding)
        #expect(["failed", "incomplete"].contains(evidence["neighbour_state"] ?? ""), "\(evidence)")
        #expect(evidence["target"] == "172.17.0.2:80")
        #expect(evidence["iface"] == IncidentTopology.bridge)
        #expect(evidence["ports"] == "10001/tcp")
        #expect((finding["message"] as? String)?.contains("172.17.0.2 on docker0 does not answer ARP") == true)
        #expect(broken?.findings["published-port-unreachable"] == nil, "the host's path is fine")
        #expect(broken?.status == 1, "a warning")
        #expect(broken?.neighbourHop?["passes"] as? Bool == false)

        let raised = daemon.waitForAlert(
            "raised", rule: "dnat-target-not-answering", subject: "10001/tcp", timeout: .seconds(20))
        #expect(raised != nil, "the daemon never raised it; alerts: \(daemon.alerts)")
        #expect(!daemon.activeKeys.contains("published-port-unreachable 10001/tcp"))

        // The container's address comes back: the next request resolves it and the finding clears.
        try topology.container.addAddress("\(IncidentTopology.containerAddress)/16", to: "eth0")
        try topology.container.ip(["route", "replace", "default", "via", IncidentTopology.bridgeAddress, "dev", "eth0"])
        #expect(try waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { try clientReaches(topology) })
        #expect(try check(topology).findings["dnat-target-not-answering"] == nil)
        #expect(
            daemon.waitForAlert(
                "resolved", rule: "dnat-target-not-answering", subject: "10001/tcp", timeout: .seconds(10)) != nil,
            "the daemon never resolved it; alerts: \(daemon.alerts)")
    }

    // MARK: Helpers

    struct CheckResult {
        var status: Int32
        /// Findings by rule.
        var findings: [String: [String: Any]]
        /// The target-neighbour hop of 10001/tcp's path from eth0, when there is one.
        var neighbourHop: [String: Any]?
    }

    /// `fwdwatch check --json` in the host namespace.
    func check(_ topology: IncidentTopology) throws -> CheckResult {
        let result = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null"], check: false)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        var findings: [String: [String: Any]] = [:]
        for finding in document?["findings"] as? [[String: Any]] ?? [] {
            if let rule = finding["rule"] as? String { findings[rule] = finding }
        }
        let ports = document?["publishedPorts"] as? [[String: Any]] ?? []
        let paths = ports.first?["paths"] as? [[String: Any]] ?? []
        let hops = paths.first?["hops"] as? [[String: Any]] ?? []
        return CheckResult(
            status: result.status, findings: findings,
            neighbourHop: hops.first { $0["name"] as? String == "target-neighbour" })
    }

    static func evidence(_ finding: [String: Any]) -> [String: String] {
        Dictionary(
            (finding["evidence"] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["value"] ?? "") },
            uniquingKeysWith: { first, _ in first })
    }

    /// Sends one UDP datagram from `namespace`, which makes the kernel resolve the address.
    func sendDatagram(to address: String, from namespace: NetworkNamespace) throws {
        try namespace.exec([
            "python3", "-c",
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('\(address)', 9))",
        ])
    }

    func linkAddress(of interface: String, in namespace: NetworkNamespace) throws -> String {
        try namespace.exec(["cat", "/sys/class/net/\(interface)/address"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
