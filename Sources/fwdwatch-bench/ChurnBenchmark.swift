import Foundation
import FwdwatchTestSupport

/// `churn`: while the daemon runs, add veth pairs in waves (each wave on a bridge of its own, peers up in a
/// namespace of the wave), then delete them wave by wave (deleting a wave's namespace unregisters its pairs in
/// one burst, as a CI runner or a node tearing down does). Per phase: the daemon's CPU (utime + stime from
/// /proc/PID/stat), the action's wall time, the time until the daemon is quiet again, its evaluations
/// (`fwdwatch_evaluations_total` from its /metrics in the namespace). At the end the daemon's active alerts must
/// equal what `fwdwatch check` finds.
struct ChurnBenchmark {
    struct Phase {
        var name: String
        var actionSeconds: Double
        var settleSeconds: Double
        var cpuSeconds: Double
        var evaluations: Int?
        var lines: Int
    }

    struct Result {
        var veths: Int
        var wave: Int
        var phases: [Phase] = []
        var converged: Bool?
        var activeAlerts = 0
        var checkFindings = 0
        var difference = ""
        var problem: String?

        var cpuSeconds: Double { phases.reduce(0) { $0 + $1.cpuSeconds } }
        var wallSeconds: Double { phases.reduce(0) { $0 + $1.actionSeconds + $1.settleSeconds } }
        var evaluations: Int? {
            phases.allSatisfy { $0.evaluations != nil } ? phases.reduce(0) { $0 + ($1.evaluations ?? 0) } : nil
        }
    }

    let options: BenchOptions
    static let metricsAddress = "127.0.0.1:10039"

    func run() -> Result {
        var result = Result(veths: options.veths, wave: options.wave)
        let waves = max(1, (options.veths + options.wave - 1) / options.wave)
        var peers: [NetworkNamespace] = []
        defer { for peer in peers { peer.delete() } }
        do {
            let host = try NetworkNamespace(prefix: "fwb\(getpid())-churn")
            defer { host.delete() }
            // The bridges exist before the daemon starts; the veths come and go while it runs.
            var setup: [String] = []
            for bridge in 0..<waves {
                setup += [
                    "link add fwb\(bridge) type bridge", "address add 10.\(100 + bridge).0.1/16 dev fwb\(bridge)",
                    "link set fwb\(bridge) up",
                ]
            }
            try batch(host.name, setup)
            for _ in 0..<waves { peers.append(try NetworkNamespace(prefix: "fwb\(getpid())-peer")) }

            let daemon = try DaemonProcess(
                namespace: host, configText: "[metrics]\nlisten = \"\(Self.metricsAddress)\"\n", binary: options.binary)
            defer { daemon.stop() }
            guard daemon.waitUntilStarted(timeout: .seconds(30)) else {
                throw UsageError("the daemon did not start: \(daemon.stderr.suffix(500))")
            }
            let stats = ProcessStats(pid: daemon.pid)
            _ = waitForCalm(daemon, stats, quiet: .seconds(2))

            func measure(_ name: String, _ action: () throws -> Double) throws {
                let cpu = stats.cpuSeconds ?? 0
                let evaluations = evaluationCount(host)
                let lines = daemon.count
                let actionSeconds = try action()
                let settle = waitForCalm(daemon, stats, quiet: .seconds(3))
                let phase = Phase(
                    name: name, actionSeconds: actionSeconds, settleSeconds: settle,
                    cpuSeconds: (stats.cpuSeconds ?? cpu) - cpu,
                    evaluations: evaluationCount(host).flatMap { after in evaluations.map { after - $0 } },
                    lines: daemon.count - lines)
                result.phases.append(phase)
                progress(
                    "churn \(name): action \(format(actionSeconds)) s, quiet \(format(settle)) s later, daemon CPU \(format(phase.cpuSeconds)) s, \(phase.evaluations.map(String.init) ?? "?") evaluations"
                )
            }

            for wave in 0..<waves {
                let range = (wave * options.wave)..<min(options.veths, (wave + 1) * options.wave)
                try measure("add \(range.count) (wave \(wave + 1))") {
                    let clock = ContinuousClock()
                    let start = clock.now
                    try batch(
                        host.name,
                        range.flatMap {
                            [
                                "link add fwv\($0) type veth peer name fwp\($0) netns \(peers[wave].name)",
                                "link set fwv\($0) master fwb\(wave)", "link set fwv\($0) up",
                            ]
                        })
                    try batch(peers[wave].name, range.map { "link set fwp\($0) up" })
                    return (clock.now - start).seconds
                }
            }
            for wave in 0..<waves {
                let range = (wave * options.wave)..<min(options.veths, (wave + 1) * options.wave)
                try measure("delete \(range.count) (wave \(wave + 1))") {
                    let clock = ContinuousClock()
                    let start = clock.now
                    peers[wave].delete()
                    // The kernel unregisters the pairs after the namespace is gone (cleanup_net): wait for it.
                    let remaining = options.veths - range.upperBound
                    let gone = waitUntil(timeout: .seconds(600), interval: .milliseconds(50)) {
                        vethCount(host).map { $0 <= remaining } ?? false
                    }
                    if !gone { throw UsageError("the veths of wave \(wave + 1) did not go within 600 s") }
                    return (clock.now - start).seconds
                }
            }

            // Converged: the rules that wait 5 s before raising have had their time; compare twice, a moment
            // apart, in case check raced a late kernel change.
            waitForQuiet(daemon, quiet: .seconds(6))
            var truth = try checkKeys(host, binary: options.binary)
            if daemon.activeKeys != truth {
                waitForQuiet(daemon, quiet: .seconds(6))
                truth = try checkKeys(host, binary: options.binary)
            }
            let active = daemon.activeKeys
            result.converged = active == truth && daemon.isRunning
            result.activeAlerts = active.count
            result.checkFindings = truth.count
            if active != truth {
                result.difference =
                    "only the daemon: \(active.subtracting(truth).sorted().prefix(5)); only check: \(truth.subtracting(active).sorted().prefix(5))"
            }
            if !daemon.isRunning { result.problem = "the daemon exited: \(daemon.stderr.suffix(500))" }
        } catch {
            result.problem = "\(error)"
        }
        return result
    }

    /// `ip -n NAMESPACE -batch -` with `commands`.
    private func batch(_ namespace: String, _ commands: [String]) throws {
        try Shell.run(["ip", "-n", namespace, "-batch", "-"], timeout: .seconds(900), input: commands.joined(separator: "\n") + "\n")
    }

    /// How many veths the namespace has.
    private func vethCount(_ namespace: NetworkNamespace) -> Int? {
        (try? namespace.ip(["-o", "link", "show", "type", "veth"], check: false)).map {
            $0.stdout.split(separator: "\n").count
        }
    }

    /// `fwdwatch_evaluations_total` from the daemon's /metrics (nil when it cannot be read: no curl).
    private func evaluationCount(_ host: NetworkNamespace) -> Int? {
        guard
            let text = try? host.exec(
                ["curl", "-s", "--max-time", "5", "http://\(Self.metricsAddress)/metrics"], timeout: .seconds(10), check: false
            ).stdout
        else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("fwdwatch_evaluations_total") {
            return line.split(separator: " ").last.flatMap { Double($0) }.map { Int($0) }
        }
        return nil
    }

    /// Waits until the daemon wrote no line for `quiet` and used under 2% of a CPU over the last second;
    /// returns the seconds waited, less the quiet period itself (at most 600 s).
    private func waitForCalm(_ daemon: DaemonProcess, _ stats: ProcessStats, quiet: Duration) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var lines = daemon.count
        var lastLine = clock.now
        var cpu = stats.cpuSeconds ?? 0
        var cpuAt = clock.now
        var calmSince = clock.now
        while clock.now - start < .seconds(600), daemon.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
            if daemon.count != lines {
                lines = daemon.count
                lastLine = clock.now
            }
            if clock.now - cpuAt >= .seconds(1) {
                let now = stats.cpuSeconds ?? cpu
                if now - cpu > 0.02 { calmSince = clock.now }
                cpu = now
                cpuAt = clock.now
            }
            let since = max(lastLine, calmSince)
            if clock.now - since >= quiet { return max(0, (since - start).seconds) }
        }
        return (clock.now - start).seconds
    }

    static func lines(_ result: Result) -> [String] {
        var lines = [
            "== churn: \(result.veths) veth pairs added in waves of \(result.wave) on bridges, then deleted wave by wave (ip netns delete of the wave's peers)",
            "\(pad("phase", -24)) \(pad("action s", 9)) \(pad("then quiet s", 12)) \(pad("daemon CPU s", 12)) \(pad("evaluations", 11)) \(pad("JSON lines", 10))",
        ]
        for phase in result.phases {
            lines.append(
                "\(pad(phase.name, -24)) \(pad(format(phase.actionSeconds), 9)) \(pad(format(phase.settleSeconds), 12))"
                    + " \(pad(format(phase.cpuSeconds), 12)) \(pad(phase.evaluations.map(String.init) ?? "?", 11)) \(pad("\(phase.lines)", 10))")
        }
        lines.append(
            "\(pad("total", -24)) \(pad(format(result.phases.reduce(0) { $0 + $1.actionSeconds }), 9))"
                + " \(pad(format(result.phases.reduce(0) { $0 + $1.settleSeconds }), 12)) \(pad(format(result.cpuSeconds), 12))"
                + " \(pad(result.evaluations.map(String.init) ?? "?", 11))")
        lines.append(
            "final state == `fwdwatch check`: \(result.converged.map { $0 ? "yes" : "NO" } ?? "-") (\(result.activeAlerts) active alerts, check: \(result.checkFindings) findings) \(result.difference)"
        )
        if let problem = result.problem { lines.append("  !! \(problem)") }
        return lines
    }
}
