import Foundation
import Testing

/// Faults a long-running `fwdwatch run` must survive without crashing, hanging, leaking noise or losing an
/// alert: journald going away and coming back, netlink overruns again and again, interfaces renamed, moved
/// to another namespace or deleted under the sweep, a bridge deleted with its ports, SIGHUP storms and SIGTERM
/// in the middle of a resync. Everything happens in namespaces the tests create (and a private journald in a
/// mount namespace of their own); after each fault the daemon's active alerts must equal a fresh
/// `fwdwatch check`.
///
/// A reload with a broken configuration file (old configuration stays, the error names file and line) is
/// covered by `DaemonTests.reloadAppliesAGoodConfigurationAndKeepsTheOldOneOnError`.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct FaultTests {
    /// Notices at warning priority or worse, and stderr lines: what an operator would see as trouble.
    func noise(_ daemon: DaemonProcess) -> [String] {
        let notices = daemon.notices.filter { ($0["priority"] as? Int ?? 7) <= 4 }.map { "\($0)" }
        let stderr = daemon.stderr.split(separator: "\n").map(String.init)
        return notices + stderr
    }

    /// A config file with a fast sweep, so that faults between netlink events and /proc reads come often.
    func fastSweepConfig() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-fault-\(randomSuffix()).toml").path
        try "[daemon]\nsweep-interval-seconds = 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func resyncCount(_ daemon: DaemonProcess) -> Int {
        daemon.notices.filter { ($0["message"] as? String)?.contains("Netlink events were lost") == true }.count
    }

    /// `ip -batch` commands that create `count` veths named `<prefix><n>` on `bridge` (peers stay down, so each
    /// port is a `bridge-port-not-forwarding` finding) and flip forwarding on some of them.
    func burst(prefix: String, count: Int, bridge: String) -> String {
        var lines = ""
        for i in 0..<count {
            lines += "link add \(prefix)\(i) type veth peer name \(prefix)p\(i)\n"
            lines += "link set \(prefix)\(i) master \(bridge)\nlink set \(prefix)\(i) up\n"
        }
        return lines
    }

    // MARK: - journald

    @Test func journaldStoppedWhileAlertsAreRaisedLosesNothing() throws {
        let journal = try PrivateJournal()
        defer { journal.stop() }
        try journal.startJournald()
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let config = try fastSweepConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        // nsenter opens both namespace files before entering either, and execs the daemon (same PID).
        let daemon = try DaemonProcess(
            launcher: ["/usr/bin/nsenter", "--mount=\(journal.mountNamespace)", "--net=\(topology.host.path)", "--"],
            config: config, logTarget: "journal")
        defer { daemon.stop() }
        let started = try journal.waitForEntry(pid: daemon.pid) {
            ($0["MESSAGE"] as? String)?.hasPrefix("fwdwatch started") == true
        }
        #expect(started != nil, "no started entry; stderr: \(daemon.stderr)")

        // journald goes away; two problems appear while it is gone.
        journal.stopJournald()
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        try topology.host.setSysctl("net.ipv4.conf.default.forwarding", "0")
        // The fallback is the console format: one "RAISED" line per alert.
        let onStderr = waitUntil(timeout: .seconds(10)) {
            let lines = daemon.stderr.split(separator: "\n").filter { $0.contains(" RAISED ") }
            return lines.contains { $0.contains("(net.ipv4.conf.eth0.forwarding=0)") }
                && lines.contains { $0.contains("net.ipv4.conf.default.forwarding=0 while") }
        }
        #expect(onStderr, "alerts did not fall back to stderr at once: \(daemon.stderr)")
        #expect(daemon.isRunning)

        // journald is back: both alerts arrive late, marked so, exactly once each, then a notice says so.
        try journal.startJournald()
        for rule in ["interface-forwarding-disabled", "default-forwarding-disabled"] {
            let late = try journal.waitForEntry(pid: daemon.pid) {
                $0["FWDWATCH_RULE"] as? String == rule && $0["FWDWATCH_STATE"] as? String == "raised"
                    && $0["FWDWATCH_DELIVERED_LATE"] as? String == "1"
            }
            #expect(late?["FWDWATCH_QUEUED_AT"] != nil, "\(rule) was not delivered late; stderr: \(daemon.stderr)")
        }
        let delivered = try journal.waitForEntry(pid: daemon.pid) {
            $0["MESSAGE_ID"] as? String == "25bb1c0eeff54e97a8f334b5f58e215d"
        }
        #expect(delivered?["FWDWATCH_DELIVERED_COUNT"] != nil)

        // Alerts after the outage go straight to the journal.
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        let resolved = try journal.waitForEntry(pid: daemon.pid) {
            $0["FWDWATCH_RULE"] as? String == "interface-forwarding-disabled"
                && $0["FWDWATCH_STATE"] as? String == "resolved"
        }
        #expect(resolved != nil && resolved?["FWDWATCH_DELIVERED_LATE"] == nil)
        let raised = try journal.entries(pid: daemon.pid).filter { $0["FWDWATCH_STATE"] as? String == "raised" }
        #expect(raised.count == 2, "each alert exactly once: \(raised.map { $0["FWDWATCH_RULE"] ?? "?" })")
        #expect(daemon.isRunning)
        #expect(daemon.stop()?.status == 0)
    }

    // MARK: - netlink overrun

    @Test func netlinkOverrunForcedRepeatedlyConvergesEveryTime() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host, arguments: ["--netlink-receive-buffer", "4096"])
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        let host = topology.host.name

        for round in 0..<3 {
            let resyncsBefore = resyncCount(daemon)
            let prefix = "ov\(round)x"
            var script = burst(prefix: prefix, count: 60, bridge: "docker0")
            // Half the new ports go again, some sysctls flip, in the same burst.
            for i in stride(from: 0, to: 60, by: 2) { script += "link del \(prefix)\(i)\n" }
            try Shell.run(["ip", "-n", host, "-batch", "-"], timeout: .seconds(120), input: script)
            try topology.host.setSysctl("net.ipv4.conf.\(prefix)1.forwarding", "0")
            try topology.host.setSysctl("net.ipv4.conf.default.forwarding", round % 2 == 0 ? "0" : "1")
            try expectConverged(daemon, topology.host, "round \(round)")
            #expect(resyncCount(daemon) > resyncsBefore, "round \(round): a 4 KiB buffer should overrun")
        }
        #expect(daemon.isRunning)
        #expect(noise(daemon).isEmpty, "\(noise(daemon))")
        #expect(daemon.stop()?.status == 0)
    }

    // MARK: - interfaces changing under the daemon

    @Test func interfaceRenamedMovedToAnotherNamespaceAndDeleted() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let other = try NetworkNamespace(prefix: "fwt-other")
        defer { other.delete() }
        let config = try fastSweepConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let daemon = try DaemonProcess(namespace: topology.host, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        let host = topology.host

        // A veth up with nothing attached is `veth-detached`: the finding names the interface.
        try host.addVethPair("fwr1", "fwr1p")
        #expect(daemon.waitForAlert("raised", rule: "veth-detached", subject: "fwr1") != nil, "\(daemon.alerts)")

        // Renamed (a link must be down to be renamed): the finding follows the name.
        try host.setLink("fwr1", up: false)
        try host.ip(["link", "set", "fwr1", "name", "fwr2"])
        try host.setLink("fwr2", up: true)
        #expect(daemon.waitForAlert("raised", rule: "veth-detached", subject: "fwr2") != nil, "\(daemon.alerts)")
        try expectConverged(daemon, host, "after rename")
        #expect(!daemon.activeKeys.contains("veth-detached fwr1"))

        // Moved to another namespace: gone from this one.
        try host.ip(["link", "set", "fwr2", "netns", other.name])
        #expect(daemon.waitForAlert("resolved", rule: "veth-detached", subject: "fwr2") != nil, "\(daemon.alerts)")
        try expectConverged(daemon, host, "after the move")

        // Moved back under yet another name while the sweep runs every second.
        try other.ip(["link", "set", "fwr2", "name", "fwr3"])
        try other.ip(["link", "set", "fwr3", "netns", host.name])
        try host.setLink("fwr3", up: true)
        #expect(daemon.waitForAlert("raised", rule: "veth-detached", subject: "fwr3") != nil, "\(daemon.alerts)")

        // Interfaces created and deleted again and again, so that the sweep lists /proc/sys/net/ipv4/conf
        // entries that are gone when it reads them.
        var churn = ""
        for i in 0..<150 {
            churn += "link add fwc\(i) type veth peer name fwcp\(i)\nlink set fwc\(i) up\nlink del fwc\(i)\n"
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(6)
        while clock.now < deadline {
            try Shell.run(["ip", "-n", host.name, "-batch", "-"], timeout: .seconds(60), input: churn)
        }
        try host.deleteLink("fwr3")
        #expect(daemon.waitForAlert("resolved", rule: "veth-detached", subject: "fwr3") != nil, "\(daemon.alerts)")
        try expectConverged(daemon, host, "after the churn")
        #expect(daemon.isRunning)
        #expect(noise(daemon).isEmpty, "\(noise(daemon))")
        #expect(daemon.stop()?.status == 0)
    }

    @Test func bridgeDeletedWithPortsAttached() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        let host = topology.host

        try host.addBridge(name: "br-fwt", address: "10.77.0.1/24")
        for i in 0..<4 {
            try host.addVethPair("fwb\(i)", "fwbp\(i)")
            try host.attach(port: "fwb\(i)", to: "br-fwt")
        }
        // One port down: a finding about the bridge that must go with it.
        try host.setLink("fwb0", up: false)
        #expect(
            daemon.waitForAlert("raised", rule: "bridge-port-not-forwarding", subject: "br-fwt/fwb0") != nil,
            "\(daemon.alerts)")
        try expectConverged(daemon, host, "with the bridge")

        try host.deleteLink("br-fwt")
        #expect(
            daemon.waitForAlert("resolved", rule: "bridge-port-not-forwarding", subject: "br-fwt/fwb0") != nil,
            "\(daemon.alerts)")
        try expectConverged(daemon, host, "after the bridge was deleted")
        #expect(!daemon.activeKeys.contains { $0.contains("br-fwt") }, "\(daemon.activeKeys)")
        #expect(daemon.isRunning)
        #expect(noise(daemon).isEmpty, "\(noise(daemon))")
        #expect(daemon.stop()?.status == 0)
    }

    // MARK: - signals

    @Test func sigtermDuringAResyncExitsCleanlyAndFast() throws {
        for round in 0..<2 {
            let topology = try IncidentTopology()
            defer { topology.delete() }
            let daemon = try DaemonProcess(namespace: topology.host, arguments: ["--netlink-receive-buffer", "4096"])
            defer { daemon.stop() }
            #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

            // A burst in the background; SIGTERM as soon as the daemon reports the overrun it causes.
            let script = burst(prefix: "st\(round)x", count: 300, bridge: "docker0")
            let churn = Thread {
                _ = try? Shell.run(
                    ["ip", "-n", topology.host.name, "-batch", "-"], timeout: .seconds(120), check: false, input: script)
            }
            churn.start()
            let resynced = waitUntil(timeout: .seconds(60), interval: .milliseconds(2)) { resyncCount(daemon) > 0 }
            #expect(resynced, "round \(round): no resync during the burst")
            let stopped = daemon.stop(timeout: .seconds(10))
            #expect(stopped?.status == 0, "round \(round): exit status; stderr: \(daemon.stderr)")
            #expect((stopped?.seconds ?? 99) < 2.0, "round \(round): took \(stopped?.seconds ?? -1) s to stop")
            let last = daemon.all.last?["message"] as? String
            #expect(last?.hasPrefix("fwdwatch stopped") == true, "round \(round): last record: \(last ?? "none")")
        }
    }

    @Test func sighupStormDuringChurnThenConvergesAndStops() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let daemon = try DaemonProcess(namespace: topology.host)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        let script = burst(prefix: "hu", count: 100, bridge: "docker0")
        let churn = Thread {
            _ = try? Shell.run(
                ["ip", "-n", topology.host.name, "-batch", "-"], timeout: .seconds(120), check: false, input: script)
        }
        churn.start()
        for _ in 0..<200 {
            daemon.signal(SIGHUP)
            Thread.sleep(forTimeInterval: 0.002)
        }
        #expect(daemon.isRunning)
        // Wait for the burst to finish: all 100 ports exist.
        let done = try waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) {
            try topology.host.ip(["-o", "link", "show", "master", "docker0"]).stdout
                .split(separator: "\n").count >= 101
        }
        #expect(done)
        try expectConverged(daemon, topology.host, "after the storm")
        let reloads = daemon.notices.filter { ($0["message"] as? String)?.hasPrefix("Configuration reloaded") == true }
        #expect(!reloads.isEmpty, "no reload was logged")
        #expect(noise(daemon).isEmpty, "\(noise(daemon))")
        let stopped = daemon.stop()
        #expect(stopped?.status == 0)
        #expect((stopped?.seconds ?? 99) < 2.0)
    }
}

// MARK: - A journald of the test's own

/// A systemd-journald in a mount namespace of its own, so that the test can stop and restart it without
/// touching the machine's journald: a holder process (`unshare --mount`) mounts tmpfs on
/// /run/systemd/journal, /run/log/journal and /var/log/journal; journald, the daemon and journalctl run in
/// that mount namespace (`nsenter --mount`). Every process is stopped by PID in `stop()`.
final class PrivateJournal: @unchecked Sendable {
    private let holder = Process()
    private let holderOutput = Pipe()
    private var journald: Process?
    private let lock = NSLock()

    /// The holder's mount namespace, for `nsenter --mount=`.
    var mountNamespace: String { "/proc/\(holder.processIdentifier)/ns/mnt" }

    init() throws {
        let script = """
            set -e
            mount -t tmpfs tmpfs /run/systemd/journal
            mkdir -p /run/log/journal && mount -t tmpfs tmpfs /run/log/journal
            if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
            echo ready
            exec sleep 3600
            """
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--mount", "--propagation", "private", "sh", "-c", script]
        holder.standardOutput = holderOutput
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        let ready = holderOutput.fileHandleForReading.availableData
        // Never start a journald unless it is certain to be private: the machine's own must not be touched.
        let mine = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        let theirs = try FileManager.default.destinationOfSymbolicLink(atPath: mountNamespace)
        let mounts = (try? String(contentsOfFile: "/proc/\(holder.processIdentifier)/mountinfo", encoding: .utf8)) ?? ""
        guard String(decoding: ready, as: UTF8.self).contains("ready"), mine != theirs,
            mounts.contains(" /run/systemd/journal rw")
        else {
            stop()
            throw ContainerError("could not make a private mount namespace for journald (unshare --mount)")
        }
    }

    deinit { stop() }

    /// Starts journald inside the private mount namespace and waits until its socket answers.
    func startJournald() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--mount=\(mountNamespace)", "--", JournaldFixture.executable]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        lock.withLock { journald = process }
        let answering = waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) {
            (try? run(["--", "systemd-cat", "-t", "fwt-private-journal"], input: "ping\n").succeeded) == true
        }
        guard answering else { throw ContainerError("the private journald did not answer") }
    }

    /// Stops journald (SIGTERM, then SIGKILL) and waits for it.
    func stopJournald() {
        guard let process = lock.withLock({ journald }) else { return }
        lock.withLock { journald = nil }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if !waitUntil(timeout: .seconds(5), { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func stop() {
        stopJournald()
        if holder.isRunning {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
    }

    /// Runs a command in the private mount namespace.
    @discardableResult
    func run(_ args: [String], input: String? = nil) throws -> ShellResult {
        try Shell.run(["nsenter", "--mount=\(mountNamespace)"] + args, timeout: .seconds(20), check: false, input: input)
    }

    func entries(pid: Int32) throws -> [[String: Any]] {
        let output = try run(["--", "journalctl", "--no-pager", "-o", "json", "_PID=\(pid)"]).stdout
        return output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Polls (never follows) the journal for an entry of `pid` matching `predicate`.
    func waitForEntry(pid: Int32, timeout: Duration = .seconds(15), _ predicate: ([String: Any]) -> Bool) throws
        -> [String: Any]?
    {
        var found: [String: Any]?
        _ = try waitUntil(timeout: timeout, interval: .milliseconds(100)) {
            found = try entries(pid: pid).first(where: predicate)
            return found != nil
        }
        return found
    }
}

