import Foundation
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchTestSupport

/// `scale`: on generated Docker and kube-proxy hosts of growing size, in namespaces, the cost of
/// - `fwdwatch check` (read the live host: netlink, /proc, the rule tools, the kernel's route answers; then
///   evaluate), median of N runs and its peak RSS;
/// - one daemon evaluation as a process: `check --snapshot` of the snapshot that host gives (process start and
///   JSON decoding included), median and peak RSS;
/// - the daemon's evaluation in-process (`EvaluationTimings`): cold, after a sysctl flip on an ingress and on
///   an unrelated interface, with the memo;
/// - the rule re-read the daemon does per nf_tables commit: `FirewallReader().read()` in the namespace.
struct ScaleBenchmark {
    struct Row {
        var kind: ScaleHost.Kind
        var size: Int
        var setupSeconds: Double = 0
        var ports: Int?
        var findings: Int?
        var checkStatus: Int32?
        /// Seconds.
        var check = Samples([])
        var checkPeakKiB: Int?
        var snapshotCheck = Samples([])
        var snapshotCheckPeakKiB: Int?
        var snapshotBytes: Int?
        var evaluation: EvaluationTimings?
        /// Milliseconds.
        var ruleRead = Samples([])
        var rulesRead: Int?
        var problem: String?
    }

    let options: BenchOptions

    var plan: [(ScaleHost.Kind, [Int])] {
        var plan: [(ScaleHost.Kind, [Int])] = []
        if !options.dockerSizes.isEmpty { plan.append((.docker, options.dockerSizes)) }
        if options.kubeModes.contains("iptables") && !options.kubeSizes.isEmpty {
            plan.append((.kubeIptables, options.kubeSizes))
        }
        if options.kubeModes.contains("nftables") && !options.kubeSizes.isEmpty {
            plan.append((.kubeNftables, options.kubeSizes))
        }
        return plan
    }

    func run() -> [Row] {
        var rows: [Row] = []
        for (kind, sizes) in plan {
            for size in sizes {
                progress("scale: \(kind.rawValue) \(size) \(kind.unit)")
                let row = measure(kind, size)
                rows.append(row)
                say(Self.line(row, previous: rows.dropLast().last { $0.kind == kind }))
            }
        }
        return rows
    }

    func measure(_ kind: ScaleHost.Kind, _ size: Int) -> Row {
        var row = Row(kind: kind, size: size)
        let clock = ContinuousClock()
        let start = clock.now
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fwdwatch-bench-\(getpid())-\(randomSuffix())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let host = try ScaleHost(kind: kind, size: size)
            defer { host.delete() }
            row.setupSeconds = (clock.now - start).seconds
            let binary = options.binary
            let namespace = host.host

            // What check finds once (ports, findings), then the timed runs.
            let report = try namespace.exec(
                [binary, "check", "--json", "--config", "/dev/null", "--sample", "0"], timeout: .seconds(300), check: false)
            row.checkStatus = report.status
            if let document = try? JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any] {
                row.ports = (document["publishedPorts"] as? [Any])?.count
                row.findings = (document["findings"] as? [Any])?.count
            }
            if report.status != 0 {
                row.problem = "check exited \(report.status) on the healthy host: \(report.stdout.prefix(300)) \(report.stderr.prefix(300))"
            }
            var peaks: [Int] = []
            row.check = Samples(
                try timeRuns(options.runs) {
                    peaks += try peakResident(["ip", "netns", "exec", namespace.name, binary, "check", "--config", "/dev/null", "--sample", "0"])
                }.values.map { $0 / 1000 })
            row.checkPeakKiB = Samples(peaks.map(Double.init)).median.map { Int($0) }

            let snapshotPath = scratch.appendingPathComponent("snapshot.json").path
            try namespace.exec([binary, "snapshot", "-o", snapshotPath], timeout: .seconds(300))
            row.snapshotBytes = (try? FileManager.default.attributesOfItem(atPath: snapshotPath)[.size] as? Int) ?? nil
            peaks = []
            row.snapshotCheck = Samples(
                try timeRuns(options.runs) {
                    peaks += try peakResident([binary, "check", "--config", "/dev/null", "--snapshot", snapshotPath])
                }.values.map { $0 / 1000 })
            row.snapshotCheckPeakKiB = Samples(peaks.map(Double.init)).median.map { Int($0) }

            row.evaluation = EvaluationTimings.measure(try EvaluationTimings.load(snapshotPath), runs: options.evaluationRuns)

            // The daemon's re-read after an nf_tables commit, on a thread inside the namespace (the tools it
            // runs see that thread's namespace).
            let runs = options.runs
            let (reads, count) = try namespace.onThreadInside { () -> (Samples, Int?) in
                var count: Int?
                let samples = timeRuns(runs) {
                    if case .state(let state) = FirewallReader().read() {
                        count = state.tables.reduce(0) { $0 + $1.chains.values.reduce(0) { $0 + $1.rules.count } }
                    }
                }
                return (samples, count)
            }
            row.ruleRead = reads
            row.rulesRead = count
            if count == nil { row.problem = (row.problem.map { $0 + "; " } ?? "") + "the firewall could not be read" }
        } catch {
            row.problem = "\(error)"
        }
        return row
    }

    /// Runs `command` under `/usr/bin/time -f %M` and returns its peak RSS in KiB (none when time(1) is missing).
    /// time(1) forks the command from its own small process: spawned from this benchmark, which holds the
    /// snapshots, wait4's ru_maxrss would carry the benchmark's high-water mark inherited at exec.
    private func peakResident(_ command: [String]) throws -> [Int] {
        let time = "/usr/bin/time"
        guard FileManager.default.isExecutableFile(atPath: time) else {
            try Shell.run(command, timeout: .seconds(300), check: false)
            return []
        }
        let result = try Shell.run([time, "-f", "%M"] + command, timeout: .seconds(300), check: false)
        return result.stderr.split(separator: "\n").last.flatMap { Int($0) }.map { [$0] } ?? []
    }

    static let header =
        "\(pad("case", -14)) \(pad("size", 6)) \(pad("ports", 6)) \(pad("check s", 8)) \(pad("RSS MB", 6)) \(pad("x", 5))"
        + " \(pad("--snapshot s", 12)) \(pad("RSS MB", 6)) \(pad("x", 5)) \(pad("cold ms", 8)) \(pad("flip ms", 8))"
        + " \(pad("aside ms", 8)) \(pad("no memo", 8)) \(pad("rule read ms", 12)) \(pad("rules", 7))"

    /// One row of the scale table; the growth columns compare with the previous size of the same case.
    static func line(_ row: Row, previous: Row?) -> String {
        func growth(_ now: Double?, _ before: Double?) -> String {
            guard let now, let before, before > 0 else { return "" }
            return "x" + format(now / before, 1)
        }
        func megabytes(_ kib: Int?) -> String { format(kib.map { Double($0) / 1024 }, 1) }
        var text =
            "\(pad(row.kind.rawValue, -14)) \(pad("\(row.size)", 6)) \(pad(row.ports.map(String.init) ?? "?", 6))"
            + " \(pad(format(row.check.median, 3), 8)) \(pad(megabytes(row.checkPeakKiB), 6))"
            + " \(pad(growth(row.check.median, previous?.check.median), 5))"
            + " \(pad(format(row.snapshotCheck.median, 3), 12)) \(pad(megabytes(row.snapshotCheckPeakKiB), 6))"
            + " \(pad(growth(row.snapshotCheck.median, previous?.snapshotCheck.median), 5))"
            + " \(pad(format(row.evaluation?.cold.median, 1), 8)) \(pad(format(row.evaluation?.flipWithMemo.median, 2), 8))"
            + " \(pad(format(row.evaluation?.unrelatedFlipWithMemo.median, 2), 8))"
            + " \(pad(format(row.evaluation?.flipWithoutMemo.median, 1), 8))"
            + " \(pad(format(row.ruleRead.median, 1), 12)) \(pad(row.rulesRead.map(String.init) ?? "-", 7))"
        if let previous {
            text += "   size x\(format(Double(row.size) / Double(previous.size), 0))"
        }
        if let problem = row.problem { text += "\n    !! \(problem)" }
        return text
    }

    static func printHeader(_ options: BenchOptions) {
        say("== scale: generated hosts in namespaces; median of \(options.runs) runs (in-process evaluations: \(options.evaluationRuns))")
        say("   check: `ip netns exec NS fwdwatch check --sample 0` (reads the live host, evaluates); --snapshot: `fwdwatch check --snapshot` of")
        say("   the snapshot that host gives (one evaluation as a process); cold/flip/aside/no memo: the daemon's evaluation in-process")
        say("   (new rules; a sysctl flip on an ingress with the memo; a flip on an interface on no port's path; the flip without memo);")
        say("   rule read: FirewallReader().read() in the namespace, what the daemon runs per nf_tables commit. x: growth from the size before.")
        say(header)
    }
}
