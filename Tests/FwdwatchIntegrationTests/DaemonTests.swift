import Foundation
import Testing

/// `fwdwatch run` against the real kernel: the daemon runs inside a namespace the test built, with
/// JSON lines on stdout; the test breaks and heals things and waits (with a deadline) for the alerts.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct DaemonTests {
    @Test func incidentIsRaisedAndResolvedAndStopIsClean() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host)
        #expect(daemon.waitUntilStarted(), "no started notice; stderr: \(daemon.stderr)")
        #expect(daemon.activeKeys.isEmpty)

        let mark = daemon.all.count
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let raised = daemon.waitForAlert(from: mark, "raised", rule: "interface-forwarding-disabled", subject: "eth0")
        #expect(raised?["severity"] as? String == "critical")
        #expect(raised?["interface"] as? String == "eth0")
        #expect(raised?["fix"] as? String == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect((raised?["message"] as? String)?.contains("restarting Docker") == true)
        let evidence = raised?["evidence"] as? [String: String]
        #expect(evidence?["sysctl"] == "net.ipv4.conf.eth0.forwarding")
        #expect(evidence?["value"] == "0")

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        let resolved = daemon.waitForAlert(from: mark, "resolved", rule: "interface-forwarding-disabled", subject: "eth0")
        #expect(resolved != nil)
        #expect((resolved?["duration"] as? Double ?? -1) >= 0)
        // Logged once each: no repeats while the state persisted.
        #expect(daemon.alerts.filter { $0["rule"] as? String == "interface-forwarding-disabled" }.count == 2)

        let stopped = daemon.stop()
        #expect(stopped?.status == 0)
        #expect((stopped?.seconds ?? 99) < 1.0)
        #expect(daemon.stderr.isEmpty || !daemon.stderr.contains("error"), "stderr: \(daemon.stderr)")
    }

    enum Breakage: String, CaseIterable, Sendable {
        case bridgeDown, addressRemoved, routeDeleted, portDown, portDetached

        func expected(_ topology: IncidentTopology) -> (rule: String, subject: String) {
            switch self {
            case .bridgeDown: ("bridge-down", "docker0")
            case .addressRemoved: ("bridge-no-address", "docker0")
            case .routeDeleted: ("bridge-route-missing", "172.17.0.0/16")
            case .portDown: ("bridge-port-not-forwarding", "docker0/\(topology.bridgePort)")
            case .portDetached: ("veth-detached", topology.bridgePort)
            }
        }

        func breakIt(_ topology: IncidentTopology) throws {
            let port = topology.bridgePort
            switch self {
            case .bridgeDown: try topology.host.ip(["link", "set", "docker0", "down"])
            case .addressRemoved: try topology.host.ip(["address", "del", "172.17.0.1/16", "dev", "docker0"])
            case .routeDeleted: try topology.host.ip(["route", "del", "172.17.0.0/16", "dev", "docker0"])
            case .portDown: try topology.host.ip(["link", "set", port, "down"])
            case .portDetached: try topology.host.ip(["link", "set", port, "nomaster"])
            }
        }

        func heal(_ topology: IncidentTopology) throws {
            let port = topology.bridgePort
            switch self {
            case .bridgeDown: try topology.host.ip(["link", "set", "docker0", "up"])
            case .addressRemoved: try topology.host.ip(["address", "add", "172.17.0.1/16", "dev", "docker0"])
            case .routeDeleted:
                try topology.host.ip([
                    "route", "add", "172.17.0.0/16", "dev", "docker0", "proto", "kernel", "scope", "link", "src",
                    "172.17.0.1",
                ])
            case .portDown: try topology.host.ip(["link", "set", port, "up"])
            case .portDetached: try topology.host.ip(["link", "set", port, "master", "docker0"])
            }
        }
    }

    @Test(arguments: Breakage.allCases)
    func bridgeBreakageIsRaisedAndResolved(_ breakage: Breakage) throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        let (rule, subject) = breakage.expected(topology)

        let mark = daemon.all.count
        try breakage.breakIt(topology)
        #expect(daemon.waitForAlert(from: mark, "raised", rule: rule, subject: subject) != nil, "\(daemon.all)")
        try breakage.heal(topology)
        #expect(
            daemon.waitForAlert(from: mark, "resolved", rule: rule, subject: subject, timeout: .seconds(20)) != nil,
            "\(daemon.all)")
        try expectConverged(daemon, topology.host)
        #expect(daemon.isRunning)
    }

    /// A few hundred veths attached to the bridge and deleted in one burst: the daemon survives and
    /// ends where a fresh check is.
    @Test(arguments: [4 << 20, 4096])
    func burstOfVethsConvergesToCheck(receiveBuffer: Int) throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(
            namespace: topology.host, arguments: ["--netlink-receive-buffer", String(receiveBuffer)])
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        let count = 300
        var create = ""
        for i in 0..<count {
            create += "link add vb\(i) type veth peer name vp\(i)\nlink set vb\(i) master docker0\nlink set vb\(i) up\n"
        }
        try Shell.run(["ip", "-n", topology.host.name, "-batch", "-"], timeout: .seconds(120), input: create)
        var delete = ""
        for i in 5..<count { delete += "link del vb\(i)\n" }
        try Shell.run(["ip", "-n", topology.host.name, "-batch", "-"], timeout: .seconds(120), input: delete)

        try expectConverged(daemon, topology.host)
        #expect(daemon.isRunning)
        // Five ports are left whose peers are down: the daemon must report exactly those.
        let left = daemon.activeKeys.filter { $0.hasPrefix("bridge-port-not-forwarding docker0/vb") }
        #expect(left.count == 5)
        if receiveBuffer < 65536 {
            let resyncs = daemon.notices.filter { ($0["message"] as? String)?.contains("Netlink events were lost") == true }
            #expect(!resyncs.isEmpty, "a \(receiveBuffer)-byte buffer should overrun during the burst")
        }
    }

    @Test func reloadAppliesAGoodConfigurationAndKeepsTheOldOneOnError() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-reload-\(randomSuffix())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("fwdwatch.toml").path
        try "# empty\n".write(toFile: config, atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(namespace: topology.host, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        try topology.host.setSysctl("net.ipv4.conf.default.forwarding", "0")
        #expect(daemon.waitForAlert("raised", rule: "default-forwarding-disabled") != nil)

        var mark = daemon.all.count
        try "[rules]\ndisable = [\"default-forwarding-disabled\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let failed = daemon.waitFor(from: mark) { ($0["message"] as? String)?.contains("not reloaded") == true }
        #expect((failed?["message"] as? String)?.contains("\(config):") == true, "\(String(describing: failed))")
        #expect(daemon.isRunning)

        // The old configuration is still in force: a new problem is still reported by every rule.
        mark = daemon.all.count
        try "[rules]\ndisable = [\"default-forwarding-disabled\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor(from: mark) { ($0["message"] as? String)?.contains("Configuration reloaded") == true } != nil)
        #expect(daemon.waitForAlert(from: mark, "resolved", rule: "default-forwarding-disabled") != nil)

        // SIGHUP storm: the daemon survives and still stops cleanly.
        for _ in 0..<50 { daemon.signal(SIGHUP) }
        let stopped = daemon.stop()
        #expect(stopped?.status == 0)
    }
}
