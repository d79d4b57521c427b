#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FwdwatchCore
import FwdwatchDaemon

/// Times the daemon's evaluation in-process on a recorded snapshot (what `fwdwatch snapshot` writes), so
/// the figure is the evaluation alone, without process start and JSON decoding:
///
///     fwdwatch-bench evaluate SNAPSHOT.json [RUNS]
///
/// Prints the median and the fastest of RUNS (default 9) for: a full evaluation from a cold memo (a new
/// rule set), an evaluation after a sysctl flip on the first ingress interface (the rules and links
/// unchanged: what the daemon pays for a netconf event), the same flip evaluated without the memo, and a
/// flip on an interface no published port's path passes.
enum Bench {
    static func main() -> Int32 {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2, arguments[0] == "evaluate" else {
            print("usage: fwdwatch-bench evaluate SNAPSHOT.json [RUNS [warm]]")
            return 64
        }
        let runs = arguments.count > 2 ? max(1, Int(arguments[2]) ?? 9) : 9
        // `warm` as a fourth argument runs only the flips with the memo (for a profiler).
        let warmOnly = arguments.count > 3 && arguments[3] == "warm"
        let snapshot: Snapshot
        do {
            snapshot = try SnapshotFile.decode(readAll(arguments[1]), path: arguments[1])
        } catch {
            print("\(error)")
            return 66
        }
        let evaluator = Evaluator()
        var flipped = snapshot
        let ingress = HostView(snapshot).publishedPorts.isEmpty ? "eth0" : (HostView(snapshot).portIngresses.first?.first?.name ?? "eth0")
        flipped.ipv4Conf[ingress, default: InterfaceConf()].forwarding = 0

        let clock = ContinuousClock()
        func time(_ body: () -> Void) -> [Double] {
            (0..<runs).map { _ in
                let start = clock.now
                body()
                let elapsed = clock.now - start
                return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            }
        }
        var ports = 0
        if warmOnly {
            var memo = EvaluationMemo()
            var toggle = false
            let samples = time {
                toggle.toggle()
                _ = evaluator.evaluate(toggle ? flipped : snapshot, memo: &memo, rulesVersion: 1)
            }
            print("warm evaluations: median \(format(samples.sorted()[samples.count / 2])) ms")
            return 0
        }
        let cold = time {
            var memo = EvaluationMemo()
            ports = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: 1).publishedPorts.count
        }
        var memo = EvaluationMemo()
        _ = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: 1)
        var toggle = false
        var findings = 0
        let warm = time {
            toggle.toggle()
            findings = evaluator.evaluate(toggle ? flipped : snapshot, memo: &memo, rulesVersion: 1).findings.count
        }
        let plain = time { _ = evaluator.evaluate(flipped) }
        // A flip on an interface no published port's path passes (a container's veth): only the
        // interface-wide rules should cost anything.
        let view = HostView(snapshot)
        let onPaths = Set(view.portPaths.flatMap { $0.flatMap { [$0.ingress] + ($0.egress.map { [$0] } ?? []) } })
        let bystander = snapshot.links.first { !onPaths.contains($0.name) && !$0.loopback }?.name
        var aside = snapshot
        if let bystander { aside.ipv4Conf[bystander, default: InterfaceConf()].forwarding = 0 }
        var asideMemo = EvaluationMemo()
        _ = evaluator.evaluate(snapshot, memo: &asideMemo, rulesVersion: 1)
        var asideToggle = false
        let unrelated = time {
            asideToggle.toggle()
            _ = evaluator.evaluate(asideToggle ? aside : snapshot, memo: &asideMemo, rulesVersion: 1)
        }
        func report(_ name: String, _ samples: [Double]) {
            let sorted = samples.sorted()
            print("\(name): median \(format(sorted[sorted.count / 2])) ms, fastest \(format(sorted[0])) ms")
        }
        print("\(ports) published ports, \(snapshot.links.count) links, \(findings) findings after the flip of \(ingress), \(runs) runs")
        report("evaluation, new rules (cold memo)", cold)
        report("evaluation after a sysctl flip (memo)", warm)
        report("evaluation after a sysctl flip (no memo)", plain)
        report("evaluation after a flip on \(bystander ?? "no other interface") (on no port's path; memo)", unrelated)
        return 0
    }

    static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }

    static func readAll(_ path: String) -> [UInt8] {
        guard let file = fopen(path, "rb") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }
}

exit(Bench.main())
