import Foundation
import FwdwatchTestSupport

/// `idle`: the daemon on the incident's healthy host (IncidentTopology), under a notify socket of ours with
/// WATCHDOG_USEC=30 s as the unit sets it, left alone: its RSS, CPU and context switches (voluntary +
/// involuntary, every thread, threads that come and go included) per minute, beside the timer events it is
/// expected to have: a sweep every 5 s and a WATCHDOG=1 every 15 s.
struct IdleBenchmark {
    struct Result {
        var binary: String
        var seconds = 0.0
        var residentKiB: Int?
        var anonymousKiB: Int?
        var fileKiB: Int?
        var cpuSeconds: Double?
        var switches = 0
        var switchesByThread: [String: Int] = [:]
        var threadsBorn = 0
        var watchdogPings = 0
        var statusUpdates = 0
        var problem: String?

        var switchesPerMinute: Double? { seconds > 0 ? Double(switches) / (seconds / 60) : nil }
        /// Sweeps (every 5 s) and watchdog pings per minute.
        var timerEventsPerMinute: Double? {
            seconds > 0 ? (seconds / 5 + Double(watchdogPings)) / (seconds / 60) : nil
        }
    }

    let options: BenchOptions
    static let watchdogMicroseconds = 30_000_000

    func run() -> Result {
        let binary = options.idleBinary ?? options.binary
        var result = Result(binary: binary)
        do {
            let topology = try IncidentTopology(prefix: "fwb\(getpid())")
            defer { topology.delete() }
            let notify = try NotifySocket()
            defer { notify.close() }
            let daemon = try DaemonProcess(
                namespace: topology.host, binary: binary,
                environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "\(Self.watchdogMicroseconds)"])
            defer { daemon.stop() }
            guard notify.waitForReady(timeout: .seconds(30)) else {
                throw UsageError("the daemon sent no READY=1: \(daemon.stderr.suffix(500))")
            }
            Thread.sleep(forTimeInterval: 2)
            let stats = ProcessStats(pid: daemon.pid)
            let before = notify.current
            let cpu = stats.cpuSeconds
            var counter = SwitchCounter(pid: daemon.pid)
            let clock = ContinuousClock()
            let start = clock.now
            let length = Duration.milliseconds(Int(options.idleSeconds * 1000))
            while clock.now - start < length, daemon.isRunning {
                Thread.sleep(forTimeInterval: 0.25)
                counter.sample()
            }
            counter.sample()
            result.seconds = (clock.now - start).seconds
            result.cpuSeconds = stats.cpuSeconds.flatMap { after in cpu.map { after - $0 } }
            result.residentKiB = stats.residentKiB
            result.anonymousKiB = stats.statusKiB("RssAnon")
            result.fileKiB = stats.statusKiB("RssFile")
            result.switches = counter.total
            result.switchesByThread = counter.byThread
            result.threadsBorn = counter.threadsBorn
            let after = notify.current
            result.watchdogPings = after.watchdog - before.watchdog
            result.statusUpdates = after.status - before.status
            if !daemon.isRunning { result.problem = "the daemon exited: \(daemon.stderr.suffix(500))" }
        } catch {
            result.problem = "\(error)"
        }
        return result
    }

    static func lines(_ result: Result) -> [String] {
        func megabytes(_ kib: Int?) -> String { format(kib.map { Double($0) / 1024 }, 1) }
        var lines = [
            "== idle: \(format(result.seconds, 0)) s on the incident's healthy host, WATCHDOG_USEC=\(watchdogMicroseconds) (\(result.binary))",
            "RSS \(megabytes(result.residentKiB)) MB (anonymous \(megabytes(result.anonymousKiB)) MB, file \(megabytes(result.fileKiB)) MB); CPU \(format(result.cpuSeconds, 3)) s",
            "context switches \(result.switches): \(format(result.switchesPerMinute, 1))/min beside \(format(result.timerEventsPerMinute, 1)) timer events/min (sweep every 5 s, \(result.watchdogPings) WATCHDOG=1 seen); \(result.threadsBorn) threads started meanwhile; STATUS= \(result.statusUpdates)",
            "by thread: " + result.switchesByThread.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
        ]
        if let problem = result.problem { lines.append("  !! \(problem)") }
        return lines
    }
}
