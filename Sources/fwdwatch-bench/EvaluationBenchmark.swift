import Foundation
import FwdwatchCore
import FwdwatchDaemon

/// The daemon's evaluation timed in-process on a snapshot, without process start and JSON decoding: from a
/// cold memo (a new rule set), after a sysctl flip on the first ingress (the rules and links unchanged: what
/// the daemon pays for a netconf event) with the memo and without, and after a flip on an interface no
/// published port's path passes. Each flip run toggles the value, so every run is a real change.
struct EvaluationTimings {
    var ports: Int
    var links: Int
    var ingress: String
    var bystander: String?
    var findingsAfterFlip: Int
    /// Milliseconds.
    var cold: Samples
    var flipWithMemo: Samples
    var flipWithoutMemo: Samples
    var unrelatedFlipWithMemo: Samples

    static func measure(_ snapshot: Snapshot, runs: Int) -> EvaluationTimings {
        let evaluator = Evaluator()
        let view = HostView(snapshot)
        let ingress = view.portIngresses.first?.first?.name ?? "eth0"
        // What the daemon sees after the flip: the sysctl and the kernel's new answers for that ingress.
        let flipped = snapshot.forwardingSwitchedOff(on: ingress)

        var ports = 0
        let cold = timeRuns(runs) {
            var memo = EvaluationMemo()
            ports = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: 1).publishedPorts.count
        }
        var memo = EvaluationMemo()
        _ = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: 1)
        var toggle = false
        var findings = 0
        let warm = timeRuns(runs) {
            toggle.toggle()
            findings = evaluator.evaluate(toggle ? flipped : snapshot, memo: &memo, rulesVersion: 1).findings.count
        }
        let plain = timeRuns(runs) { _ = evaluator.evaluate(flipped) }

        // A flip on an interface no published port's path passes (a container's veth): only the
        // interface-wide rules should cost anything.
        let onPaths = Set(view.portPaths.flatMap { $0.flatMap { [$0.ingress] + ($0.egress.map { [$0] } ?? []) } })
        let bystander = snapshot.links.first { !onPaths.contains($0.name) && !$0.loopback }?.name
        var aside = snapshot
        if let bystander { aside.ipv4Conf[bystander, default: InterfaceConf()].forwarding = 0 }
        var asideMemo = EvaluationMemo()
        _ = evaluator.evaluate(snapshot, memo: &asideMemo, rulesVersion: 1)
        var asideToggle = false
        let unrelated = timeRuns(runs) {
            asideToggle.toggle()
            _ = evaluator.evaluate(asideToggle ? aside : snapshot, memo: &asideMemo, rulesVersion: 1)
        }
        return EvaluationTimings(
            ports: ports, links: snapshot.links.count, ingress: ingress, bystander: bystander, findingsAfterFlip: findings,
            cold: cold, flipWithMemo: warm, flipWithoutMemo: plain, unrelatedFlipWithMemo: unrelated)
    }

    /// Reads a snapshot `fwdwatch snapshot` wrote.
    static func load(_ path: String) throws -> Snapshot {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read \(path)")
        }
        return try SnapshotFile.decode([UInt8](data), path: path)
    }

    /// `fwdwatch-bench evaluate SNAPSHOT [RUNS [warm]]`: the figures for one recorded snapshot; `warm` runs only
    /// the flips with the memo (for a profiler).
    static func command(_ arguments: [String]) -> Int32 {
        guard let path = arguments.first else {
            say(BenchOptions.usage)
            return 64
        }
        let runs = arguments.count > 1 ? max(1, Int(arguments[1]) ?? 9) : 9
        let snapshot: Snapshot
        do {
            snapshot = try load(path)
        } catch {
            say("\(error)")
            return 66
        }
        if arguments.count > 2 && arguments[2] == "warm" {
            let ingress = HostView(snapshot).portIngresses.first?.first?.name ?? "eth0"
            let flipped = snapshot.forwardingSwitchedOff(on: ingress)
            let evaluator = Evaluator()
            var memo = EvaluationMemo()
            var toggle = false
            let samples = timeRuns(runs) {
                toggle.toggle()
                _ = evaluator.evaluate(toggle ? flipped : snapshot, memo: &memo, rulesVersion: 1)
            }
            say("warm evaluations: median \(format(samples.median)) ms")
            return 0
        }
        let timings = measure(snapshot, runs: runs)
        func report(_ name: String, _ samples: Samples) {
            say("\(name): median \(format(samples.median)) ms, fastest \(format(samples.fastest)) ms")
        }
        say(
            "\(timings.ports) published ports, \(timings.links) links, \(timings.findingsAfterFlip) findings after the flip of \(timings.ingress), \(runs) runs"
        )
        report("evaluation, new rules (cold memo)", timings.cold)
        report("evaluation after a sysctl flip (memo)", timings.flipWithMemo)
        report("evaluation after a sysctl flip (no memo)", timings.flipWithoutMemo)
        report(
            "evaluation after a flip on \(timings.bystander ?? "no other interface") (on no port's path; memo)",
            timings.unrelatedFlipWithMemo)
        return 0
    }
}
