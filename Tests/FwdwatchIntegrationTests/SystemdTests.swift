import Foundation
import FwdwatchCore
import FwdwatchJournal
import Testing

/// Where the shipped unit file lives, and what it runs.
enum ShippedUnit {
    static var path: String { packageRoot() + "/systemd/fwdwatch.service" }
    static var catalogPath: String { packageRoot() + "/packaging/catalog/fwdwatch.catalog" }
    static let installedBinary = "/usr/bin/fwdwatch"

    static func text() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// The `Key=value` assignments of the unit, in order (comments and section headers skipped).
    static func assignments() throws -> [(key: String, value: String)] {
        try text().split(separator: "\n").compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix(";"), !line.hasPrefix("["),
                let equals = line.firstIndex(of: "=")
            else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }

    static func value(_ key: String) throws -> String? { try assignments().last { $0.key == key }?.value }

    /// The unit's ExecStart with the installed binary path replaced by `binary`.
    static func execStart(binary: String) throws -> String {
        guard let command = try value("ExecStart") else { throw ContainerError("the unit has no ExecStart=") }
        return command.replacingOccurrences(of: installedBinary, with: binary)
    }

    static var systemdAnalyze: String? {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// The unit file users install, checked without booting anything.
@Suite("systemd unit file", .enabled(if: ShippedUnit.systemdAnalyze != nil, "systemd-analyze is not installed"))
struct SystemdUnitFileTests {
    @Test("systemd-analyze security scores its exposure at 2.0 or less")
    func exposure() throws {
        let result = try Shell.run(["systemd-analyze", "security", "--offline=true", "--no-pager", ShippedUnit.path])
        let overall = result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
        let score = overall.flatMap { line in
            line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        }
        let exposure = try #require(score, "no exposure level in:\n\(result.stdout)")
        print("systemd-analyze security --offline=true systemd/fwdwatch.service: \(exposure)")
        #expect(exposure <= 2.0, "\(result.stdout)")
    }

    /// `verify` checks that ExecStart's binary exists: it is verified on a copy whose ExecStart names the
    /// built binary. The man pages named in Documentation= are not installed on a build machine: --man=no.
    @Test("systemd-analyze verify passes (ExecStart pointed at the built binary)")
    func verify() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-unit-\(randomSuffix())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let original = try ShippedUnit.text()
        #expect(original.contains("ExecStart=\(ShippedUnit.installedBinary) "))
        let copy = scratch.appendingPathComponent("fwdwatch.service")
        try Data(original.replacingOccurrences(of: ShippedUnit.installedBinary, with: fwdwatchBinary()).utf8)
            .write(to: copy)
        let result = try Shell.run(["systemd-analyze", "verify", "--man=no", copy.path], check: false)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.isEmpty, "systemd-analyze verify complained: \(result.stderr)")
    }

    @Test("the unit keeps what the daemon needs: notify, watchdog, reload by SIGHUP, the host's network")
    func essentials() throws {
        #expect(try ShippedUnit.value("Type") == "notify")
        #expect(try ShippedUnit.value("NotifyAccess") == "main")
        #expect(try ShippedUnit.value("WatchdogSec") == "30s")
        #expect(try ShippedUnit.value("ExecReload") == "/bin/kill -HUP $MAINPID")
        #expect(try ShippedUnit.value("ExecStart") == "/usr/bin/fwdwatch run --log-target journal")
        #expect(try ShippedUnit.value("Restart") == "on-failure")
        #expect(try ShippedUnit.value("CapabilityBoundingSet") == "CAP_NET_ADMIN")
        #expect(try ShippedUnit.value("AmbientCapabilities") == "CAP_NET_ADMIN")
        // It watches the host's namespace; a private one (or a capability in a private user namespace) sees nothing.
        #expect(try ShippedUnit.value("PrivateNetwork") == nil)
        #expect(try ShippedUnit.value("PrivateUsers") == nil)
        // /proc/sys and /proc/net must stay visible.
        #expect(try ShippedUnit.value("ProcSubset") != "pid")
        #expect(try ShippedUnit.value("RestrictAddressFamilies")?.contains("AF_NETLINK") == true)
    }
}

/// The files a booted container needs, staged in a scratch directory on the host and bound into it.
struct ServiceStaging {
    static let binaryInContainer = "/opt/fwdwatch/fwdwatch"
    static let configInContainer = "/etc/fwdwatch/fwdwatch.toml"

    let root: URL
    /// Bound (writable) to /etc/systemd/system: the shipped unit, and drop-ins the test adds.
    var units: URL { root.appendingPathComponent("units") }
    var dropIns: URL { units.appendingPathComponent("fwdwatch.service.d") }
    /// Bound (writable) to /etc/fwdwatch.
    var config: URL { root.appendingPathComponent("config") }
    /// Bound read-only to /usr/lib/systemd/catalog: the host's catalogs plus fwdwatch's, when it exists.
    var catalog: URL { root.appendingPathComponent("catalog") }
    let hasCatalog: Bool
    let binds: [SystemdContainer.Bind]

    init() throws {
        let files = FileManager.default
        root = files.temporaryDirectory.appendingPathComponent("fwt-units-\(randomSuffix())")
        let units = root.appendingPathComponent("units")
        let dropIns = units.appendingPathComponent("fwdwatch.service.d")
        let config = root.appendingPathComponent("config")
        let catalog = root.appendingPathComponent("catalog")
        for directory in [root, units, dropIns, config, catalog] {
            // The service's dynamic user reads the configuration: world-readable directories.
            try files.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        // The real unit, verbatim; only ExecStart is redirected (/usr is the host's, read-only, without fwdwatch).
        try files.copyItem(atPath: ShippedUnit.path, toPath: units.appendingPathComponent("fwdwatch.service").path)
        try Self.write(
            "[Service]\nExecStart=\nExecStart=\(try ShippedUnit.execStart(binary: Self.binaryInContainer))\n",
            to: dropIns.appendingPathComponent("50-test-binary.conf"))

        for name in (try? files.contentsOfDirectory(atPath: "/usr/lib/systemd/catalog")) ?? [] {
            try files.copyItem(
                atPath: "/usr/lib/systemd/catalog/\(name)", toPath: catalog.appendingPathComponent(name).path)
        }
        hasCatalog = files.fileExists(atPath: ShippedUnit.catalogPath)
        if hasCatalog {
            try files.copyItem(
                atPath: ShippedUnit.catalogPath, toPath: catalog.appendingPathComponent("fwdwatch.catalog").path)
        }

        var binds: [SystemdContainer.Bind] = [
            .init(source: fwdwatchBinary(), target: Self.binaryInContainer),
            .init(source: units.path, target: "/etc/systemd/system", writable: true),
            .init(source: config.path, target: "/etc/fwdwatch", writable: true),
            .init(source: catalog.path, target: "/usr/lib/systemd/catalog"),
        ]
        // Only /usr is the host's inside: the directories of shared libraries found elsewhere (the Swift
        // runtime under /opt/swift) are bound at the same paths.
        binds += try Self.libraryDirectoriesOutsideUsr(of: fwdwatchBinary()).map { .init(source: $0, target: $0) }
        self.binds = binds
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func writeConfig(_ text: String) throws {
        try Self.write(text, to: config.appendingPathComponent("fwdwatch.toml"))
    }

    func writeDropIn(_ name: String, _ text: String) throws {
        try Self.write(text, to: dropIns.appendingPathComponent(name))
    }

    private static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path)
    }

    static func libraryDirectoriesOutsideUsr(of binary: String) throws -> [String] {
        let output = try Shell.run(["ldd", binary]).stdout
        var directories: [String] = []
        for line in output.split(separator: "\n") {
            guard let arrow = line.range(of: "=> ") else { continue }
            let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
            guard path.hasPrefix("/"), !["/usr/", "/lib", "/bin/", "/sbin/"].contains(where: path.hasPrefix) else {
                continue
            }
            let directory = (path as NSString).deletingLastPathComponent
            if !directories.contains(directory) { directories.append(directory) }
        }
        return directories
    }
}

/// MESSAGE_IDs systemd (PID 1) logs about units (systemd's `sd-messages.h`).
enum SystemdMessageID {
    static let unitStopping = "de5b426a63be47a7b6ac3eaac82e2f6f"
    static let unitStopped = "9d1aaa27d60140bd96365438aad20286"
    /// "Deactivated successfully.": the unit went inactive with Result=success.
    static let unitSuccess = "7ad2d189f7e94e70a38c781354912448"
}

/// A journal field as text.
private func field(_ entry: [String: Any]?, _ name: String) -> String? { entry?[name] as? String }

/// The `Subject:` of a catalog entry, with `@IFACE@`-style fields replaced.
private func catalogSubject(_ catalog: String, id: String, fields: [String: String]) -> String? {
    let lines = catalog.split(separator: "\n", omittingEmptySubsequences: false)
    guard let header = lines.firstIndex(where: { $0.hasPrefix("-- \(id)") }) else { return nil }
    guard let subject = lines[(header + 1)...].prefix(while: { !$0.hasPrefix("-- ") }).first(where: {
        $0.hasPrefix("Subject: ")
    }) else { return nil }
    var text = String(subject.dropFirst("Subject: ".count))
    for (name, value) in fields { text = text.replacingOccurrences(of: "@\(name)@", with: value) }
    return text
}

/// `fwdwatch.service` under a real systemd (PID 1 of a `systemd-nspawn --boot` container) inside the
/// incident topology's host namespace: start waits for READY, STATUS=, alerts in the journal with the
/// catalog, reload (good and broken file), the watchdog, a clean stop.
@Suite(
    "fwdwatch.service under systemd", .serialized,
    .enabled(if: isRoot, "needs root: boots systemd in a container and creates network namespaces"),
    .enabled(
        if: SystemdContainer.nspawnPath != nil, "systemd-nspawn is missing (package systemd-container)"))
struct SystemdServiceTests {
    static let unit = "fwdwatch.service"
    static let rule = InterfaceForwardingDisabled()

    @Test("start, status, alerts, reload, watchdog restart and stop")
    func serviceLifecycle() throws {
        let clock = ContinuousClock()
        let testStart = clock.now
        var timings: [(String, Double)] = []
        defer {
            let total = (clock.now - testStart).timeInterval
            let text = (timings + [("total", total)]).map { "\($0.0) \(String(format: "%.3f", $0.1)) s" }
            print("SystemdServiceTests timings: " + text.joined(separator: ", "))
        }
        func seconds(since start: ContinuousClock.Instant) -> Double { (clock.now - start).timeInterval }

        let topology = try IncidentTopology(prefix: "fwt-sd")
        defer { topology.delete() }
        let staging = try ServiceStaging()
        defer { staging.remove() }
        let container = try SystemdContainer(namespace: topology.host, binds: staging.binds)
        defer { container.powerOff() }
        timings.append(("boot", container.bootSeconds))
        let host = topology.host
        let unit = Self.unit
        /// Waits for an entry of the unit logged after `cursor`.
        func entry(after cursor: String, timeout: Duration = .seconds(15), _ predicate: ([String: Any]) -> Bool)
            throws -> [String: Any]?
        {
            try container.waitForEntry(unit: unit, after: cursor, timeout: timeout, predicate)
        }
        func isAlert(_ entry: [String: Any], _ state: String, id: String) -> Bool {
            field(entry, "MESSAGE_ID") == id && field(entry, "FWDWATCH_STATE") == state
                && field(entry, "FWDWATCH_RULE") == Self.rule.id.rawValue && field(entry, "IFACE") == "eth0"
        }

        var catalog: String?
        if staging.hasCatalog {
            try container.run(["journalctl", "--update-catalog"])
            catalog = try String(contentsOfFile: ShippedUnit.catalogPath, encoding: .utf8)
        } else {
            print("SystemdServiceTests: \(ShippedUnit.catalogPath) does not exist yet; the -x check is skipped")
        }

        // (a) start returns only after READY: active at once, with the STATUS= line already set.
        let bootCursor = try container.journalCursor()
        let startBegan = clock.now
        try container.systemctl(["start", unit])
        timings.append(("systemctl start", seconds(since: startBegan)))
        let started = try container.properties(
            unit,
            ["ActiveState", "SubState", "StatusText", "MainPID", "ExecMainStartTimestampMonotonic",
                "ActiveEnterTimestampMonotonic"])
        #expect(started["ActiveState"] == "active")
        #expect(started["SubState"] == "running")
        // (b) STATUS= reaches systemd.
        let status = started["StatusText"] ?? ""
        #expect(status.hasPrefix("healthy: 1 bridge, 1 port watched"), "StatusText: \(status)")
        #expect(try container.systemctl(["status", unit], check: false).stdout.contains("Status: \"healthy"))
        let mainPID = started["MainPID"] ?? "0"
        let startedNotice = try entry(after: bootCursor) { field($0, "MESSAGE_ID") == JournalMessageID.started }
        #expect(field(startedNotice, "_PID") == mainPID)
        #expect(field(startedNotice, "MESSAGE")?.hasPrefix("fwdwatch started: healthy") == true)
        if let execStart = Double(started["ExecMainStartTimestampMonotonic"] ?? ""),
            let active = Double(started["ActiveEnterTimestampMonotonic"] ?? "")
        {
            timings.append(("exec to READY", (active - execStart) / 1e6))
            #expect(active > execStart)
        }

        // The hardened unit: a dynamic user holding CAP_NET_ADMIN (bit 12) and nothing else.
        let processStatus = try container.run(["cat", "/proc/\(mainPID)/status"]).stdout
        let uid = processStatus.split(separator: "\n").first { $0.hasPrefix("Uid:") }
        #expect(uid != nil && uid?.contains("\t0\t") == false, "\(uid ?? "no Uid line")")
        #expect(processStatus.contains("CapEff:\t0000000000001000"), "\(processStatus)")

        // (c) the incident: uplink forwarding 0 -> a critical alert with the rule's fields, explained by -x.
        let incidentCursor = try container.journalCursor()
        let writing = Date()
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let raised = try entry(after: incidentCursor) { isAlert($0, "raised", id: Self.rule.messageID) }
        if raised == nil {
            let messages = try container.journalEntries(unit: unit, after: incidentCursor).map {
                field($0, "MESSAGE") ?? ""
            }
            Issue.record("no raised alert; the journal since the write: \(messages)")
        }
        #expect(field(raised, "PRIORITY") == "2")
        #expect(field(raised, "FWDWATCH_SEVERITY") == "critical")
        #expect(field(raised, "FWDWATCH_SUBJECT") == "eth0")
        #expect(field(raised, "FWDWATCH_FIX") == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        #expect(field(raised, "_SYSTEMD_UNIT") == unit)
        #expect(field(raised, "_PID") == mainPID)
        #expect(field(raised, "_UID") != "0")
        if let realtime = field(raised, "__REALTIME_TIMESTAMP").flatMap(Double.init) {
            // An upper bound: it includes starting `ip netns exec sysctl`.
            timings.append(("sysctl command to alert in journal", realtime / 1e6 - writing.timeIntervalSince1970))
        }
        #expect(try container.property(unit, "StatusText").hasPrefix("1 critical: interface-forwarding-disabled eth0"))
        if let catalog {
            let subject = try #require(catalogSubject(catalog, id: Self.rule.messageID, fields: ["IFACE": "eth0"]))
            let explained = try container.run(
                ["journalctl", "-x", "-q", "--no-pager", "-u", unit, "--cursor=\(incidentCursor)"]
            ).stdout
            #expect(explained.contains(subject), "journalctl -x lacks \"\(subject)\":\n\(explained.suffix(3000))")
        }

        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        let resolved = try entry(after: incidentCursor) {
            isAlert($0, "resolved", id: RuleRegistry.resolvedMessageID)
        }
        #expect(resolved != nil, "no resolved alert")
        #expect(field(resolved, "PRIORITY") == "5")
        #expect(
            try waitUntil(timeout: .seconds(5)) { try container.property(unit, "StatusText").hasPrefix("healthy") })

        // (d) reload: a changed file is read (the severity override turns the alert into a warning) ...
        let secondIncidentCursor = try container.journalCursor()
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try entry(after: secondIncidentCursor) { isAlert($0, "raised", id: Self.rule.messageID) } != nil)
        try staging.writeConfig("[rules.severity]\ninterface-forwarding-disabled = \"warning\"\n")
        let reloadCursor = try container.journalCursor()
        try container.systemctl(["reload", unit])
        let reloaded = try entry(after: reloadCursor) { field($0, "MESSAGE_ID") == JournalMessageID.reloaded }
        #expect(field(reloaded, "MESSAGE") == "Configuration reloaded from \(ServiceStaging.configInContainer).")
        let downgraded = try entry(after: reloadCursor) { isAlert($0, "changed", id: Self.rule.messageID) }
        #expect(field(downgraded, "FWDWATCH_SEVERITY") == "warning")
        #expect(field(downgraded, "FWDWATCH_PREVIOUS_SEVERITY") == "critical")
        #expect(field(downgraded, "PRIORITY") == "4")
        #expect(try container.property(unit, "ActiveState") == "active")
        #expect(
            try waitUntil(timeout: .seconds(5)) { try container.property(unit, "StatusText").hasPrefix("1 warning") })

        // ... a broken one is refused with file:line and the service stays up with the old configuration.
        try staging.writeConfig(
            "[rules.severity]\ninterface-forwarding-disabled = \"warning\"\n[daemon]\nno-such-key = 1\n")
        let brokenCursor = try container.journalCursor()
        try container.systemctl(["reload", unit])
        let refused = try entry(after: brokenCursor) { field($0, "MESSAGE_ID") == JournalMessageID.reloadFailed }
        #expect(
            field(refused, "MESSAGE")?.contains("not reloaded") == true, "\(field(refused, "MESSAGE") ?? "no entry")")
        #expect(field(refused, "MESSAGE")?.contains("\(ServiceStaging.configInContainer):4") == true)
        #expect(field(refused, "CONFIG_FILE") == ServiceStaging.configInContainer)
        #expect(field(refused, "CONFIG_LINE") == "4")
        #expect(field(refused, "PRIORITY") == "3")
        let afterRefusal = try container.properties(unit, ["ActiveState", "SubState", "MainPID", "StatusText"])
        #expect(afterRefusal["ActiveState"] == "active")
        #expect(afterRefusal["SubState"] == "running")
        #expect(afterRefusal["MainPID"] == mainPID)
        #expect(afterRefusal["StatusText"]?.hasPrefix("1 warning") == true)
        // A valid file with no override brings back the default severity: the only change to critical since the
        // refused reload comes after this reload, so the refused one kept the override in force.
        try staging.writeConfig("# defaults\n")
        try container.systemctl(["reload", unit])
        let restored = try entry(after: brokenCursor) { isAlert($0, "changed", id: Self.rule.messageID) }
        #expect(field(restored, "FWDWATCH_SEVERITY") == "critical")
        let sinceRefusal = try container.journalEntries(unit: unit, after: brokenCursor)
        let reloadIndex = sinceRefusal.firstIndex { field($0, "MESSAGE_ID") == JournalMessageID.reloaded }
        let criticalIndex = sinceRefusal.firstIndex {
            isAlert($0, "changed", id: Self.rule.messageID) && field($0, "FWDWATCH_SEVERITY") == "critical"
        }
        if let reloadIndex, let criticalIndex {
            #expect(reloadIndex < criticalIndex, "the refused reload changed the severity")
        } else {
            let messages = sinceRefusal.map { field($0, "MESSAGE") ?? "" }
            Issue.record("expected a reload and then a change back to critical; got \(messages)")
        }

        // (e) the watchdog: with WatchdogSec=3s (test drop-in), a stopped daemon is killed and restarted, and the
        // new instance raises the still-present problem again.
        try container.systemctl(["stop", unit])
        try staging.writeDropIn("60-test-watchdog.conf", "[Service]\nWatchdogSec=3s\n")
        try container.systemctl(["daemon-reload"])
        try container.systemctl(["start", unit])
        let before = try container.properties(unit, ["WatchdogUSec", "NRestarts", "MainPID", "ActiveState"])
        #expect(before["WatchdogUSec"] == "3s")
        #expect(before["ActiveState"] == "active")
        let restartsBefore = Int(before["NRestarts"] ?? "") ?? -1
        let stoppedPID = before["MainPID"] ?? "0"
        let watchdogCursor = try container.journalCursor()
        try container.run(["kill", "-STOP", stoppedPID])
        let frozen = clock.now
        var after: [String: String] = [:]
        let restarted = try waitUntil(timeout: .seconds(30), interval: .milliseconds(50)) {
            after = try container.properties(unit, ["NRestarts", "MainPID", "ActiveState"])
            return Int(after["NRestarts"] ?? "") == restartsBefore + 1 && after["ActiveState"] == "active"
                && after["MainPID"] != stoppedPID && after["MainPID"] != "0"
        }
        #expect(restarted, "no watchdog restart: \(after)")
        timings.append(("SIGSTOP to restarted (WatchdogSec=3s, RestartSec=2s)", seconds(since: frozen)))
        let timeout = try entry(after: watchdogCursor) { field($0, "MESSAGE")?.contains("Watchdog timeout") == true }
        #expect(timeout != nil, "systemd logged no watchdog timeout")
        let newPID = after["MainPID"] ?? "0"
        let raisedAgain = try entry(after: watchdogCursor) {
            isAlert($0, "raised", id: Self.rule.messageID) && field($0, "_PID") == newPID
        }
        #expect(raisedAgain != nil, "the restarted daemon did not raise the alert again")

        // (f) a clean stop.
        let stopCursor = try container.journalCursor()
        let stopBegan = clock.now
        try container.systemctl(["stop", unit])
        timings.append(("systemctl stop", seconds(since: stopBegan)))
        // systemd forgets an inactive unit's runtime properties (garbage collection), so its verdict is read
        // from the journal: "Deactivated successfully" is logged only for Result=success, an unclean exit
        // adds "Main process exited, code=..." and "Failed with result ...".
        #expect(try container.property(unit, "ActiveState") == "inactive")
        let deactivated = try entry(after: stopCursor) { field($0, "MESSAGE_ID") == SystemdMessageID.unitSuccess }
        #expect(deactivated != nil, "systemd did not log a successful deactivation")
        let stopLog = try container.journalEntries(unit: unit, after: stopCursor)
        let unclean = stopLog.compactMap { field($0, "MESSAGE") }.filter {
            $0.contains("Main process exited") || $0.contains("Failed with result") || $0.contains("timed out")
        }
        #expect(unclean.isEmpty, "unclean stop: \(unclean)")
        let stopping = stopLog.first { field($0, "MESSAGE_ID") == SystemdMessageID.unitStopping }
        let stoppedJob = stopLog.first { field($0, "MESSAGE_ID") == SystemdMessageID.unitStopped }
        if let from = field(stopping, "__MONOTONIC_TIMESTAMP").flatMap(Double.init),
            let to = field(stoppedJob, "__MONOTONIC_TIMESTAMP").flatMap(Double.init)
        {
            let stopSeconds = (to - from) / 1e6
            timings.append(("stop job (journal timestamps)", stopSeconds))
            #expect(stopSeconds < 1.0)
        } else {
            Issue.record("no Stopping/Stopped job entries: \(stopLog.map { field($0, "MESSAGE") ?? "" })")
        }
        let goodbye = try entry(after: stopCursor) { field($0, "MESSAGE_ID") == JournalMessageID.stopping }
        #expect(field(goodbye, "_PID") == newPID)

        let powerOffBegan = clock.now
        container.powerOff()
        timings.append(("poweroff", seconds(since: powerOffBegan)))
    }
}
