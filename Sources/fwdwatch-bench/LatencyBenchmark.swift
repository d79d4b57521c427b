import Foundation
import FwdwatchTestSupport

/// `latency`: in the incident's namespaces (IncidentTopology), flip `net.ipv4.conf.eth0.forwarding` and time
/// from the write(2) returning to the alert (`interface-forwarding-disabled eth0` raised, then resolved)
/// - as a JSON line on the daemon's stdout (`--log-target json`), stamped when read by DaemonProcess's reader;
/// - as an entry queryable in the journal (`--log-target journal`), through libsystemd queries every 200 µs;
/// beside the floor: the kernel's RTM_NEWNETCONF for the same flip on a socket of ours. Each flip waits 30-40 ms
/// first, beyond the daemon's 20 ms coalescing window: this measures a lone change.
struct LatencyBenchmark {
    enum Target: String { case json, journal }

    struct Result {
        var target: Target
        var flips: Int
        /// Milliseconds from the write returning.
        var alert = Samples([])
        var floor = Samples([])
        var write = Samples([])
        var missed = 0
        var problem: String?
    }

    let options: BenchOptions
    static let rule = "interface-forwarding-disabled"

    func run(_ target: Target) -> Result {
        var result = Result(target: target, flips: options.flips)
        var journald: JournaldFixture?
        defer { journald?.release() }
        do {
            if target == .journal {
                // A journald on the machine is used as it is; otherwise one is started (from this, the root,
                // namespace) and stopped again, as the journal tests do.
                journald = try JournaldFixture.acquire()
            }
            let topology = try IncidentTopology(prefix: "fwb\(getpid())")
            defer { topology.delete() }
            let notify = try NotifySocket()
            defer { notify.close() }
            let daemon = try DaemonProcess(
                namespace: topology.host, configText: "[daemon]\nflap-hold-seconds = 0\n", logTarget: target.rawValue,
                binary: options.binary, environment: ["NOTIFY_SOCKET": notify.path])
            defer { daemon.stop() }
            guard notify.waitForReady(timeout: .seconds(30)) else {
                throw UsageError("the daemon sent no READY=1: \(daemon.stderr.suffix(500))")
            }
            // The topology was just built: the bridge's carrier event comes about 1 s later (linkwatch) and
            // would open a coalescing window under an early flip.
            Thread.sleep(forTimeInterval: 1.5)
            let journal = target == .journal ? try JournalQuery(pid: daemon.pid) : nil
            _ = journal?.readAvailable()
            let flips = options.flips
            let measured = try topology.host.onThreadInside { () -> (Samples, Samples, Samples, Int) in
                try Self.flip(flips: flips, daemon: daemon, journal: journal)
            }
            (result.alert, result.floor, result.write, result.missed) = measured
            if !daemon.isRunning { result.problem = "the daemon exited: \(daemon.stderr.suffix(500))" }
        } catch {
            result.problem = "\(error)"
        }
        return result
    }

    /// The flips, on a thread inside the host namespace (its /proc/sys/net and netlink socket are that
    /// namespace's).
    private static func flip(flips: Int, daemon: DaemonProcess, journal: JournalQuery?) throws -> (
        Samples, Samples, Samples, Int
    ) {
        let listener = try NetconfListener()
        let uplink = IncidentTopology.uplink
        let ifindex = Int32(if_nametoindex(uplink))
        let path = "/proc/sys/net/ipv4/conf/\(uplink)/forwarding"
        var alerts: [Double] = []
        var floors: [Double] = []
        var writes: [Double] = []
        var missed = 0
        var value = 1
        _ = listener.readAvailable()
        for _ in 0..<flips {
            value = 1 - value
            let state = value == 0 ? "raised" : "resolved"
            Thread.sleep(forTimeInterval: 0.030 + Double.random(in: 0..<0.010))
            let mark = daemon.count
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else { throw UsageError("open \(path): \(String(cString: strerror(errno)))") }
            let before = ContinuousClock.now
            let wrote = "\(value)".withCString { write(fd, $0, 1) }
            let written = ContinuousClock.now
            close(fd)
            guard wrote == 1 else { throw UsageError("write \(path): \(String(cString: strerror(errno)))") }
            writes.append((written - before).milliseconds)

            var floorAt: ContinuousClock.Instant?
            var alertAt: ContinuousClock.Instant?
            let deadline = written + .seconds(5)
            var seen = mark
            while floorAt == nil || alertAt == nil, ContinuousClock.now < deadline {
                if floorAt == nil {
                    listener.wait(milliseconds: journal == nil ? 1 : 0)
                    for event in listener.readAvailable() where event.ifindex == ifindex && event.forwarding == Int32(value) {
                        floorAt = floorAt ?? event.at
                    }
                }
                if let journal {
                    for entry in journal.readAvailable()
                    where entry.fields["FWDWATCH_RULE"] == rule && entry.fields["FWDWATCH_SUBJECT"] == uplink
                        && entry.fields["FWDWATCH_STATE"] == state
                    {
                        alertAt = alertAt ?? entry.at
                    }
                    if alertAt == nil { usleep(200) }
                } else {
                    for line in daemon.timedRecords(from: seen) {
                        let record = line.record
                        if record["type"] as? String == "alert", record["rule"] as? String == rule,
                            record["subject"] as? String == uplink, record["state"] as? String == state
                        {
                            alertAt = alertAt ?? line.at
                        }
                        seen += 1
                    }
                    if alertAt == nil && floorAt != nil { _ = daemon.waitForMore(than: seen, timeout: .milliseconds(5)) }
                }
                if !daemon.isRunning { break }
            }
            if let floorAt { floors.append((floorAt - written).milliseconds) }
            if let alertAt { alerts.append((alertAt - written).milliseconds) } else { missed += 1 }
            if !daemon.isRunning { break }
        }
        return (Samples(alerts), Samples(floors), Samples(writes), missed)
    }

    static func printHeader() {
        say("== latency: sysctl write returned -> alert seen, in the incident's namespaces (ms)")
        say("\(pad("measurement", -44)) \(pad("n", 5)) \(pad("p50", 8)) \(pad("p90", 8)) \(pad("p99", 8)) \(pad("max", 8))")
    }

    static func lines(_ result: Result) -> [String] {
        func row(_ name: String, _ samples: Samples) -> String {
            "\(pad(name, -44)) \(pad("\(samples.count)", 5)) \(pad(format(samples.percentile(50), 3), 8))"
                + " \(pad(format(samples.percentile(90), 3), 8)) \(pad(format(samples.percentile(99), 3), 8))"
                + " \(pad(format(samples.slowest, 3), 8))"
        }
        let name = result.target == .json ? "JSON alert line on the daemon's stdout" : "journal entry queryable (sd_journal)"
        var lines = [
            row(name, result.alert),
            row("  floor: RTM_NEWNETCONF on a socket of ours", result.floor),
            row("  the write(2) itself", result.write),
        ]
        if result.missed > 0 { lines.append("  !! \(result.missed) of \(result.flips) flips without an alert within 5 s") }
        if let problem = result.problem { lines.append("  !! \(problem)") }
        return lines
    }
}
