import Foundation
import FwdwatchJournal
import Testing

/// Opt-in repair (`[repair] forwarding = true`) against the real kernel: the daemon runs in the incident
/// topology's host namespace; the test writes `forwarding=0` from a thread inside that namespace (the same
/// write `sysctl -w` makes) and polls the value there, so the latency is measured from the moment the write
/// returned.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RepairTests {
    static let uplinkForwarding = "/proc/sys/net/ipv4/conf/\(IncidentTopology.uplink)/forwarding"
    static let rule = "interface-forwarding-disabled"

    @Test func aResetIsRepairedWithinMillisecondsAndLogged() throws {
        let topology = try IncidentTopology(prefix: "fwt-rp")
        defer { topology.delete() }
        let config = try RepairConfig("[repair]\nforwarding = true\nmax-per-hour = 1000\n")
        defer { config.remove() }
        let daemon = try DaemonProcess(namespace: topology.host, config: config.path)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        var latencies: [Double] = []
        for round in 1...5 {
            let mark = daemon.all.count
            let latency = try topology.host.onThreadInside {
                try SysctlFile.write(Self.uplinkForwarding, "0")
                return SysctlFile.waitFor(Self.uplinkForwarding, "1", timeout: 1.0)
            }
            guard let latency else {
                Issue.record("round \(round): forwarding stayed 0 for 1 s; output: \(daemon.all.dropFirst(mark))")
                break
            }
            latencies.append(latency)
            let notice = daemon.waitFor(from: mark) { $0["message_id"] as? String == JournalMessageID.repaired }
            let fields = notice?["fields"] as? [String: String]
            #expect(fields?["FWDWATCH_INTERFACE"] == "eth0")
            #expect(fields?["FWDWATCH_SYSCTL"] == "net.ipv4.conf.eth0.forwarding")
            #expect(fields?["FWDWATCH_PREVIOUS_VALUE"] == "0")
            #expect(fields?["FWDWATCH_REPAIRS"] == String(round))
            #expect(fields?["FWDWATCH_MAX_PER_HOUR"] == "1000")
            #expect(notice?["priority"] as? Int == JournalPriority.notice.rawValue)
            #expect((notice?["message"] as? String)?.hasPrefix("Repaired forwarding on eth0") == true)
            // The alert that called for it was logged, and resolves once the value stayed 1 for the flap hold.
            #expect(daemon.waitForAlert(from: mark, "raised", rule: Self.rule, subject: "eth0") != nil)
            #expect(
                daemon.waitForAlert(from: mark, "resolved", rule: Self.rule, subject: "eth0", timeout: .seconds(5))
                    != nil, "\(daemon.all.dropFirst(mark))")
            waitForQuiet(daemon, quiet: .milliseconds(1500))
        }
        let sorted = latencies.sorted()
        print(
            "RepairTests latency write(0) returned -> forwarding=1 read back, ms: "
                + sorted.map { String(format: "%.3f", $0 * 1000) }.joined(separator: " "))
        #expect(latencies.count == 5)
        #expect((sorted.last ?? 99) < 1.0)
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "1")
        // What the operator sees for each reset: raised, the repair notice, resolved after the flap hold.
        let ruleAlerts = daemon.alerts.filter { $0["rule"] as? String == Self.rule }
        print("RepairTests alert states: \(ruleAlerts.map { "\($0["state"] ?? "")(flaps \($0["flaps"] ?? 0))" })")
        try expectConverged(daemon, topology.host)
        #expect(daemon.isRunning)
    }

    @Test func theRateLimitHoldsWhenSomethingKeepsWritingZero() throws {
        let topology = try IncidentTopology(prefix: "fwt-rp")
        defer { topology.delete() }
        let config = try RepairConfig("[repair]\nforwarding = true\nmax-per-hour = 3\n")
        defer { config.remove() }
        let daemon = try DaemonProcess(namespace: topology.host, config: config.path)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        // A culprit that writes 0 every 20 ms for 1.5 s (75 writes).
        let writes = try topology.host.onThreadInside {
            var count = 0
            let end = Date().addingTimeInterval(1.5)
            while Date() < end {
                try SysctlFile.write(Self.uplinkForwarding, "0")
                count += 1
                usleep(20_000)
            }
            return count
        }
        #expect(writes > 3)
        // Someone else writes 1, the culprit 0 again: still refused, and no second warning.
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        waitForQuiet(daemon, quiet: .seconds(2))

        let repaired = daemon.notices.filter { $0["message_id"] as? String == JournalMessageID.repaired }
        let limits = daemon.notices.filter { $0["message_id"] as? String == JournalMessageID.repairLimitReached }
        #expect(repaired.count == 3, "\(repaired)")
        #expect(repaired.map { ($0["fields"] as? [String: String])?["FWDWATCH_REPAIRS"] ?? "" } == ["1", "2", "3"])
        #expect(limits.count == 1, "\(daemon.all)")
        let limit = limits.first
        #expect(limit?["priority"] as? Int == JournalPriority.warning.rawValue)
        #expect((limit?["fields"] as? [String: String])?["FWDWATCH_INTERFACE"] == "eth0")
        let message = limit?["message"] as? String ?? ""
        #expect(message.contains("eth0") && message.contains("Something keeps writing 0"), "\(message)")
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "0")
        #expect(daemon.activeKeys.contains("\(Self.rule) eth0"), "\(daemon.activeKeys)")
        #expect(daemon.isRunning)
    }

    @Test func aReloadTurnsRepairOnAtOnce() throws {
        let topology = try IncidentTopology(prefix: "fwt-rp")
        defer { topology.delete() }
        let config = try RepairConfig("# repair off\n")
        defer { config.remove() }
        let daemon = try DaemonProcess(namespace: topology.host, config: config.path)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(daemon.waitForAlert("raised", rule: Self.rule, subject: "eth0") != nil)

        // The value is still 0: the reload's own evaluation repairs it, no new event needed.
        let mark = daemon.all.count
        try "[repair]\nforwarding = true\n".write(toFile: config.path, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let repaired = daemon.waitFor(from: mark) { $0["message_id"] as? String == JournalMessageID.repaired }
        #expect((repaired?["fields"] as? [String: String])?["FWDWATCH_INTERFACE"] == "eth0", "\(daemon.all)")
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "1")
        #expect(daemon.waitForAlert(from: mark, "resolved", rule: Self.rule, subject: "eth0") != nil)
    }

    enum NoRepair: String, CaseIterable, Sendable {
        /// `all` is 0: the host is not meant to forward; ip-forwarding-disabled speaks, nothing is written.
        case allForwardingOff
        /// eth0 is ignored; docker0 (not ignored) is broken too and is repaired: repair is on.
        case ignoredInterface
        /// No [repair] table: the default is off.
        case repairOff
    }

    @Test(arguments: NoRepair.allCases)
    func nothingIsWritten(_ situation: NoRepair) throws {
        let topology = try IncidentTopology(prefix: "fwt-rp")
        defer { topology.delete() }
        let text =
            switch situation {
            case .allForwardingOff: "[repair]\nforwarding = true\n"
            case .ignoredInterface: "[interfaces]\nignore = [\"eth0\"]\n[repair]\nforwarding = true\n"
            case .repairOff: "# defaults\n"
            }
        let config = try RepairConfig(text)
        defer { config.remove() }
        let daemon = try DaemonProcess(namespace: topology.host, config: config.path)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        let mark = daemon.all.count
        switch situation {
        case .allForwardingOff:
            // Writing all=0 copies 0 to every interface.
            try topology.host.setSysctl("net.ipv4.conf.all.forwarding", "0")
            #expect(daemon.waitForAlert(from: mark, "raised", rule: "ip-forwarding-disabled") != nil, "\(daemon.all)")
        case .ignoredInterface:
            try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
            try topology.host.setSysctl("net.ipv4.conf.docker0.forwarding", "0")
            let repaired = daemon.waitFor(from: mark) { $0["message_id"] as? String == JournalMessageID.repaired }
            #expect((repaired?["fields"] as? [String: String])?["FWDWATCH_INTERFACE"] == "docker0", "\(daemon.all)")
            #expect(try topology.host.sysctl("net.ipv4.conf.docker0.forwarding") == "1")
        case .repairOff:
            try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
            #expect(daemon.waitForAlert(from: mark, "raised", rule: Self.rule, subject: "eth0") != nil, "\(daemon.all)")
        }
        waitForQuiet(daemon, quiet: .milliseconds(1500))
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "0")
        let eth0Repairs = daemon.notices.filter {
            $0["message_id"] as? String == JournalMessageID.repaired
                && ($0["fields"] as? [String: String])?["FWDWATCH_INTERFACE"] == "eth0"
        }
        #expect(eth0Repairs.isEmpty, "\(eth0Repairs)")
        #expect(daemon.isRunning)
    }

    enum Denial: String, CaseIterable, Sendable {
        /// The daemon runs as root without CAP_NET_ADMIN (dropped from the bounding set before exec).
        case noNetAdmin
        /// The daemon's proc root is a read-only bind mount of /proc, as ProtectKernelTunables=yes makes it.
        case readOnlyProc
    }

    @Test(arguments: Denial.allCases)
    func withoutWritePermissionItSaysSoOnceAndKeepsRunning(_ denial: Denial) throws {
        let topology = try IncidentTopology(prefix: "fwt-rp")
        defer { topology.delete() }
        let config = try RepairConfig("[repair]\nforwarding = true\n")
        defer { config.remove() }
        let launcher: [String]
        var arguments: [String] = []
        switch denial {
        case .noNetAdmin:
            launcher = [
                "/usr/sbin/ip", "netns", "exec", topology.host.name, "/usr/bin/setpriv", "--bounding-set=-net_admin",
                "--inh-caps=-net_admin",
            ]
        case .readOnlyProc:
            // A private mount namespace (ip netns exec makes one) with /proc bound read-only under the config
            // directory; the daemon reads and writes sysctls below it.
            let root = config.directory.appendingPathComponent("root").path
            try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
            launcher = [
                "/usr/sbin/ip", "netns", "exec", topology.host.name, "/bin/sh", "-c",
                "mount --bind /proc \"$0/proc\" && mount -o remount,bind,ro \"$0/proc\" && exec \"$@\"", root,
            ]
            arguments = ["--proc-root", root]
        }
        let daemon = try DaemonProcess(launcher: launcher, arguments: arguments, config: config.path)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        let mark = daemon.all.count
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let failed = daemon.waitFor(from: mark) { $0["message_id"] as? String == JournalMessageID.repairFailed }
        let message = failed?["message"] as? String ?? ""
        switch denial {
        case .noNetAdmin:
            #expect(message.contains("CAP_NET_ADMIN"), "\(daemon.all)")
        case .readOnlyProc:
            #expect(
                message.contains("ProtectKernelTunables") && message.contains("ReadWritePaths=/proc/sys/net/ipv4/conf"),
                "\(daemon.all)")
        }
        #expect(failed?["priority"] as? Int == JournalPriority.error.rawValue)
        #expect((failed?["fields"] as? [String: String])?["FWDWATCH_INTERFACE"] == "eth0")
        // The same failure again (another reset after a manual fix) is not logged again.
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        waitForQuiet(daemon, quiet: .milliseconds(1500))
        #expect(daemon.notices.count { $0["message_id"] as? String == JournalMessageID.repairFailed } == 1)
        #expect(daemon.notices.allSatisfy { $0["message_id"] as? String != JournalMessageID.repaired })
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "0")
        #expect(daemon.activeKeys.contains("\(Self.rule) eth0"))
        #expect(daemon.isRunning, "stderr: \(daemon.stderr)")
    }
}

/// The shipped unit under a real systemd: with ProtectKernelTunables=yes alone the repair fails with EROFS
/// and says how to enable it; with the shipped drop-in (`packaging/systemd/repair.conf`) the dynamic user
/// holding CAP_NET_ADMIN repairs.
@Suite(
    .serialized, .enabled(if: isRoot, rootRequired),
    .enabled(if: SystemdContainer.nspawnPath != nil, "systemd-nspawn is missing (package systemd-container)"))
struct RepairServiceTests {
    static let unit = "fwdwatch.service"

    @Test func theDropInMakesTheShippedUnitAbleToRepair() throws {
        let topology = try IncidentTopology(prefix: "fwt-rs")
        defer { topology.delete() }
        let staging = try ServiceStaging()
        defer { staging.remove() }
        try staging.writeConfig("[repair]\nforwarding = true\nmax-per-hour = 10\n")
        let container = try SystemdContainer(namespace: topology.host, binds: staging.binds)
        defer { container.powerOff() }
        func field(_ entry: [String: Any]?, _ name: String) -> String? { entry?[name] as? String }

        // Without the drop-in: EROFS, said once, with the remedy; the value stays 0.
        var cursor = try container.journalCursor()
        try container.systemctl(["start", Self.unit])
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let failed = try container.waitForEntry(unit: Self.unit, after: cursor) {
            field($0, "MESSAGE_ID") == JournalMessageID.repairFailed
        }
        #expect(field(failed, "MESSAGE")?.contains("ReadWritePaths=/proc/sys/net/ipv4/conf") == true, "\(failed ?? [:])")
        #expect(field(failed, "FWDWATCH_ERROR")?.contains("EROFS") == true)
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "0")

        // With the shipped drop-in: the running daemon is restarted and repairs the 0 at once.
        let dropIn = try String(contentsOfFile: packageRoot() + "/packaging/systemd/repair.conf", encoding: .utf8)
        try staging.writeDropIn("60-repair.conf", dropIn)
        try container.systemctl(["daemon-reload"])
        cursor = try container.journalCursor()
        try container.systemctl(["restart", Self.unit])
        let repaired = try container.waitForEntry(unit: Self.unit, after: cursor) {
            field($0, "MESSAGE_ID") == JournalMessageID.repaired
        }
        let messages = try container.journalEntries(unit: Self.unit, after: cursor).map { field($0, "MESSAGE") ?? "" }
        #expect(field(repaired, "FWDWATCH_INTERFACE") == "eth0", "\(messages)")
        #expect(field(repaired, "_UID") != "0" && field(repaired, "_UID") != nil)
        #expect(try topology.host.sysctl("net.ipv4.conf.eth0.forwarding") == "1")

        // New resets, timed from the write: repaired through the drop-in's writable path.
        var latencies: [Double] = []
        for _ in 1...3 {
            Thread.sleep(forTimeInterval: 1.2)  // past the flap hold: each reset is a fresh alert
            let latency = try topology.host.onThreadInside {
                try SysctlFile.write(RepairTests.uplinkForwarding, "0")
                return SysctlFile.waitFor(RepairTests.uplinkForwarding, "1", timeout: 1.0)
            }
            if let latency { latencies.append(latency) }
        }
        print("RepairServiceTests latency under systemd, ms: " + latencies.map { String(format: "%.3f", $0 * 1000) }.joined(separator: " "))
        #expect(latencies.count == 3)
        let mainPID = try container.property(Self.unit, "MainPID")
        let mounts = try container.run(["cat", "/proc/\(mainPID)/mountinfo"]).stdout
        #expect(mounts.contains(" /proc/sys/net/ipv4/conf rw,"), "\(mounts)")
        #expect(mounts.contains(" /proc/sys ro,"), "\(mounts)")
        try container.systemctl(["stop", Self.unit])
    }
}

/// A configuration file in a directory of its own.
private struct RepairConfig {
    let directory: URL
    var path: String { directory.appendingPathComponent("fwdwatch.toml").path }

    init(_ text: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-repair-\(randomSuffix())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try text.write(toFile: directory.appendingPathComponent("fwdwatch.toml").path, atomically: true, encoding: .utf8)
    }

    /// Removes the directory. A read-only bind below it lived in the daemon's own mount namespace (made by
    /// `ip netns exec`) and went away with the daemon.
    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Direct reads and writes of a sysctl file from the calling thread (in its network namespace).
private enum SysctlFile {
    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "writing \(path): \(String(cString: strerror(code)))" }
    }

    static func write(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WriteError(path: path, code: errno) }
        defer { close(fd) }
        let bytes = Array("\(value)\n".utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw WriteError(path: path, code: errno)
        }
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Seconds from now until the file reads `value` (polling every 50 µs), or nil after `timeout`.
    static func waitFor(_ path: String, _ value: String, timeout: Double) -> Double? {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            if read(path) == value { return (clock.now - start).timeInterval }
            if (clock.now - start).timeInterval > timeout { return nil }
            usleep(50)
        }
    }
}
