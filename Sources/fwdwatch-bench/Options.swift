import Foundation

/// What to measure and how much of it: the flags every subcommand takes.
struct BenchOptions {
    /// The `fwdwatch` binary (default: the one next to this benchmark, i.e. the same build).
    var binary: String
    /// The binary whose idle memory is measured (default `binary`), e.g. the packaged static build.
    var idleBinary: String?
    var quick = false
    /// Runs per figure of `scale` (the median is reported).
    var runs = 5
    var evaluationRuns = 9
    var dockerSizes = [100, 1000, 10000]
    var kubeSizes = [200, 2000, 10000]
    var kubeModes = ["iptables", "nftables"]
    var flips = 200
    var veths = 3000
    var wave = 1000
    var idleSeconds = 60.0

    static let usage = """
        usage: fwdwatch-bench all|scale|latency|churn|idle [flags]      (root: every host lives in network namespaces it creates)
               fwdwatch-bench evaluate SNAPSHOT.json [RUNS [warm]]

          --quick              a short run: sizes 100,1000 and 200,2000, 3 runs, 50 flips, 300 veths in waves of 100, 15 s idle
          --binary PATH        the fwdwatch to measure (default: the fwdwatch next to fwdwatch-bench)
          --idle-binary PATH   measure idle memory on this build instead (e.g. .build-deb/release/fwdwatch, the packaged one)
          --runs N             runs per check / check --snapshot / rule read figure, median reported (default 5)
          --evaluation-runs N  in-process evaluations per figure (default 9)
          --docker-sizes LIST  published Docker ports, e.g. 100,1000,10000 (empty: none)
          --kube-sizes LIST    kube-proxy services, e.g. 200,2000,10000 (empty: none)
          --kube-modes LIST    iptables,nftables
          --flips N            sysctl flips per latency figure (default 200)
          --veths N            veth pairs of the churn (default 3000)
          --wave N             pairs added (and deleted) at once (default 1000)
          --idle-seconds S     how long the idle daemon is watched (default 60)
        """

    /// Parses the flags after the subcommand; `--quick` sets its defaults first, explicit flags win.
    static func parse(_ arguments: [String]) throws -> BenchOptions {
        var options = BenchOptions(binary: defaultBinary())
        if arguments.contains("--quick") {
            options.quick = true
            options.runs = 3
            options.evaluationRuns = 5
            options.dockerSizes = [100, 1000]
            options.kubeSizes = [200, 2000]
            options.flips = 50
            options.veths = 300
            options.wave = 100
            options.idleSeconds = 15
        }
        var index = 0
        func value(_ flag: String) throws -> String {
            index += 1
            guard index < arguments.count else { throw UsageError("\(flag) needs a value") }
            return arguments[index]
        }
        func number(_ flag: String) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number >= 0 else { throw UsageError("\(flag): not a count: \(text)") }
            return number
        }
        func list(_ flag: String) throws -> [Int] {
            let text = try value(flag)
            return try text.split(separator: ",").map {
                guard let size = Int($0), size > 0 else { throw UsageError("\(flag): not a size: \($0)") }
                return size
            }
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--quick": break
            case "--binary": options.binary = try value(flag)
            case "--idle-binary": options.idleBinary = try value(flag)
            case "--runs": options.runs = max(1, try number(flag))
            case "--evaluation-runs": options.evaluationRuns = max(1, try number(flag))
            case "--docker-sizes": options.dockerSizes = try list(flag)
            case "--kube-sizes": options.kubeSizes = try list(flag)
            case "--kube-modes":
                options.kubeModes = try value(flag).split(separator: ",").map(String.init)
                if let bad = options.kubeModes.first(where: { $0 != "iptables" && $0 != "nftables" }) {
                    throw UsageError("--kube-modes: iptables or nftables, not \(bad)")
                }
            case "--flips": options.flips = max(1, try number(flag))
            case "--veths": options.veths = try number(flag)
            case "--wave": options.wave = max(1, try number(flag))
            case "--idle-seconds":
                let text = try value(flag)
                guard let seconds = Double(text), seconds > 0 else { throw UsageError("--idle-seconds: \(text)") }
                options.idleSeconds = seconds
            default: throw UsageError("unknown flag \(flag)")
            }
            index += 1
        }
        guard FileManager.default.isExecutableFile(atPath: options.binary) else {
            throw UsageError("no fwdwatch at \(options.binary) (build it: swift build -c release --product fwdwatch, or pass --binary)")
        }
        return options
    }

    /// `fwdwatch` in the directory of this executable.
    static func defaultBinary() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("fwdwatch").path
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
