import Foundation
import FwdwatchTestSupport

/// The benchmark of issue 12, in one run, on hosts it builds in network namespaces (never the machine's own):
///
///     fwdwatch-bench all [--quick] [flags]     # everything, then one table with the issue's targets
///     fwdwatch-bench scale|latency|churn|idle [flags]
///     fwdwatch-bench evaluate SNAPSHOT.json [RUNS [warm]]
///
/// The harness (namespaces, the daemon as a child, Shell, journald) is FwdwatchTestSupport, the integration
/// tests' own. `scripts/bench/run.sh` builds the release binaries and runs `all`.
enum Bench {
    static func main(_ arguments: [String]) -> Int32 {
        guard let command = arguments.first else {
            say(BenchOptions.usage)
            return 64
        }
        if command == "evaluate" { return EvaluationTimings.command(Array(arguments.dropFirst())) }
        guard ["all", "scale", "latency", "churn", "idle"].contains(command) else {
            say(BenchOptions.usage)
            return command == "-h" || command == "--help" ? 0 : 64
        }
        let options: BenchOptions
        do {
            options = try BenchOptions.parse(Array(arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("fwdwatch-bench: \(error)\n\(BenchOptions.usage)\n".utf8))
            return 64
        }
        guard isRoot else {
            FileHandle.standardError.write(Data("fwdwatch-bench \(command) creates network namespaces: run it as root\n".utf8))
            return 77
        }
        printContext(command, options)
        var results = BenchResults()
        let clock = ContinuousClock()
        let start = clock.now
        // Quiet measurements first: idle and latency suffer from a loaded machine, scale least.
        if command == "all" || command == "idle" {
            progress("idle: \(format(options.idleSeconds, 0)) s")
            let idle = IdleBenchmark(options: options).run()
            results.idle = idle
            say()
            IdleBenchmark.lines(idle).forEach { say($0) }
        }
        if command == "all" || command == "latency" {
            say()
            LatencyBenchmark.printHeader()
            for target in [LatencyBenchmark.Target.json, .journal] {
                progress("latency: \(target.rawValue), \(options.flips) flips")
                let result = LatencyBenchmark(options: options).run(target)
                results.latency.append(result)
                LatencyBenchmark.lines(result).forEach { say($0) }
            }
        }
        if command == "all" || command == "churn" {
            progress("churn: \(options.veths) veth pairs in waves of \(options.wave)")
            let churn = ChurnBenchmark(options: options).run()
            results.churn = churn
            say()
            ChurnBenchmark.lines(churn).forEach { say($0) }
        }
        if command == "all" || command == "scale" {
            say()
            ScaleBenchmark.printHeader(options)
            results.scale = ScaleBenchmark(options: options).run()
        }
        say()
        results.printTable(onlyMeasured: command != "all")
        say()
        say("done in \(format((clock.now - start).seconds, 0)) s; load average at the end \(loadAverage())")
        return 0
    }

    static func printContext(_ command: String, _ options: BenchOptions) {
        let commit = (try? Shell.run(["git", "-C", packageRoot(), "rev-parse", "--short", "HEAD"], check: false))?.stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let dirty = (try? Shell.run(["git", "-C", packageRoot(), "status", "--porcelain", "--untracked-files=no"], check: false))?
            .stdout.isEmpty == false
        let kernel = (try? Shell.run(["uname", "-r"], check: false))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        say(
            "fwdwatch-bench \(command)\(options.quick ? " --quick" : ""): \(Date()) commit \(commit ?? "?")\(dirty ? " (with uncommitted changes)" : "")"
        )
        say(
            "binary \(options.binary); kernel \(kernel ?? "?"), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average at the start \(loadAverage())"
        )
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}

exit(Bench.main(Array(CommandLine.arguments.dropFirst())))
