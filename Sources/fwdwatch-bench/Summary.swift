import Foundation

/// Everything one run measured, and the table that puts each figure beside issue 12's target.
struct BenchResults {
    var scale: [ScaleBenchmark.Row] = []
    var latency: [LatencyBenchmark.Result] = []
    var churn: ChurnBenchmark.Result?
    var idle: IdleBenchmark.Result?

    struct Verdict {
        var figure: String
        var measured: String
        var target: String
        /// nil: not measured in this run.
        var met: Bool?
    }

    func row(_ kind: ScaleHost.Kind, _ size: Int) -> ScaleBenchmark.Row? {
        scale.first { $0.kind == kind && $0.size == size && $0.problem == nil }
    }

    var verdicts: [Verdict] {
        var verdicts: [Verdict] = []
        func seconds(_ value: Double?) -> String { value.map { "\(format($0, 3)) s" } ?? "not measured" }
        func milliseconds(_ value: Double?) -> String { value.map { "\(format($0, 2)) ms" } ?? "not measured" }

        let cases: [(ScaleHost.Kind, Int, String)] = [
            (.kubeIptables, 2000, "2,000 kube-proxy services (iptables)"),
            (.kubeNftables, 2000, "2,000 kube-proxy services (nftables)"),
            (.docker, 10000, "10,000 published Docker ports"),
        ]
        for (kind, size, name) in cases {
            let check = row(kind, size)?.check.median
            verdicts.append(Verdict(figure: "check at \(name)", measured: seconds(check), target: "< 0.5 s", met: check.map { $0 < 0.5 }))
        }
        for (kind, size, name) in cases {
            let flip = row(kind, size)?.evaluation?.flipWithMemo.median
            verdicts.append(
                Verdict(figure: "sysctl flip evaluated at \(name)", measured: milliseconds(flip), target: "< 5 ms", met: flip.map { $0 < 5 }))
        }
        for kind in ScaleHost.Kind.allCases {
            guard let largest = scale.filter({ $0.kind == kind && $0.problem == nil }).max(by: { $0.size < $1.size }),
                largest.size > 10000 || !cases.contains(where: { $0.0 == kind && $0.1 == largest.size })
            else { continue }
            let flip = largest.evaluation?.flipWithMemo.median
            verdicts.append(
                Verdict(
                    figure: "sysctl flip evaluated at the largest \(kind.rawValue) (\(largest.size) \(kind.unit))",
                    measured: milliseconds(flip), target: "< 5 ms", met: flip.map { $0 < 5 }))
        }
        let small = row(.docker, 1000)
        let large = row(.docker, 10000)
        for (name, before, after) in [
            ("check", small?.check.median, large?.check.median),
            ("one evaluation (check --snapshot)", small?.snapshotCheck.median, large?.snapshotCheck.median),
            ("in-process evaluation, cold", small?.evaluation?.cold.median, large?.evaluation?.cold.median),
        ] {
            let growth = before.flatMap { b in after.map { $0 / b } }
            verdicts.append(
                Verdict(
                    figure: "growth 1,000 -> 10,000 Docker ports: \(name)",
                    measured: growth.map { "x\(format($0, 1))" } ?? "not measured", target: "<= ~x10",
                    met: growth.map { $0 <= 11 }))
        }
        for kind in ScaleHost.Kind.allCases {
            guard let largest = scale.filter({ $0.kind == kind && $0.problem == nil }).max(by: { $0.size < $1.size }),
                let read = largest.ruleRead.median
            else { continue }
            verdicts.append(
                Verdict(
                    figure: "rule re-read per nf_tables commit, \(kind.rawValue) \(largest.size) \(kind.unit)",
                    measured: "\(format(read, 1)) ms (+ cold evaluation \(format(largest.evaluation?.cold.median, 1)) ms)",
                    target: "(no target)", met: nil))
        }
        if let churn {
            let ok = churn.problem == nil && churn.converged == true
            verdicts.append(
                Verdict(
                    figure: "churn: \(churn.veths) veths in waves of \(churn.wave), daemon CPU",
                    measured: ok ? "\(format(churn.cpuSeconds)) s (wall \(format(churn.wallSeconds, 1)) s, \(churn.evaluations.map(String.init) ?? "?") evaluations)" : "failed",
                    target: "< 5 s", met: ok ? churn.cpuSeconds < 5 : false))
            verdicts.append(
                Verdict(
                    figure: "churn: final state equal to `fwdwatch check`", measured: churn.converged.map { $0 ? "equal" : "differs" } ?? "failed",
                    target: "equal", met: churn.converged ?? false))
        } else {
            verdicts.append(Verdict(figure: "churn: daemon CPU", measured: "not measured", target: "< 5 s", met: nil))
        }
        if let idle {
            let megabytes = idle.residentKiB.map { Double($0) / 1024 }
            verdicts.append(
                Verdict(
                    figure: idle.binary.contains(".build-deb")
                        ? "idle RSS (the packaged build, .build-deb)" : "idle RSS (plain release build, Swift runtime shared)",
                    measured: megabytes.map { "\(format($0, 1)) MB" } ?? "failed", target: "< 20 MB", met: megabytes.map { $0 < 20 }))
            verdicts.append(
                Verdict(
                    figure: "idle wakeups (context switches)",
                    measured: "\(format(idle.switchesPerMinute, 1))/min beside \(format(idle.timerEventsPerMinute, 1)) timer events/min; CPU \(format(idle.cpuSeconds, 3)) s",
                    target: "only sweep + watchdog", met: nil))
        } else {
            verdicts.append(Verdict(figure: "idle RSS", measured: "not measured", target: "< 20 MB", met: nil))
        }
        for (target, limit) in [(LatencyBenchmark.Target.json, 1.0), (.journal, 5.0)] {
            let result = latency.first { $0.target == target }
            let p99 = result.flatMap { $0.problem == nil ? $0.alert.percentile(99) : nil }
            let floor = result?.floor.percentile(99)
            let name = target == .json ? "sysctl write -> JSON alert line, p99" : "sysctl write -> journal entry, p99"
            let missed = result?.missed ?? 0
            verdicts.append(
                Verdict(
                    figure: name,
                    measured: p99.map { "\(format($0, 3)) ms (p50 \(format(result?.alert.median, 3)), kernel floor p99 \(format(floor, 3)))" + (missed > 0 ? ", \(missed) missed" : "") }
                        ?? (result == nil ? "not measured" : "failed"),
                    target: "< \(format(limit, 0)) ms", met: p99.map { $0 < limit && missed == 0 } ?? (result == nil ? nil : false)))
        }
        return verdicts
    }

    /// The table; `onlyMeasured` leaves out the figures this run did not measure (a single subcommand).
    func printTable(onlyMeasured: Bool = false) {
        let verdicts = self.verdicts.filter { !onlyMeasured || $0.measured != "not measured" }
        let width = max(40, verdicts.map(\.figure.count).max() ?? 40)
        let measuredWidth = max(12, verdicts.map(\.measured.count).max() ?? 12)
        say("== issue 12's targets")
        say("\(pad("figure", -width))  \(pad("measured", -measuredWidth))  \(pad("target", -22))  verdict")
        for verdict in verdicts {
            let outcome = verdict.met.map { $0 ? "MET" : "MISSED" } ?? (verdict.measured == "not measured" ? "-" : "(info)")
            say("\(pad(verdict.figure, -width))  \(pad(verdict.measured, -measuredWidth))  \(pad(verdict.target, -22))  \(outcome)")
        }
    }
}
