import Foundation

// Figures: samples, percentiles, durations, and what /proc says about a process.

/// Samples of one measurement, in the unit the caller chose (milliseconds or seconds).
struct Samples: Sendable {
    var values: [Double]

    init(_ values: [Double]) { self.values = values }

    var isEmpty: Bool { values.isEmpty }
    var count: Int { values.count }
    var median: Double? { percentile(50) }
    var fastest: Double? { values.min() }
    var slowest: Double? { values.max() }

    /// Nearest-rank percentile (p in 0...100).
    func percentile(_ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }
}

extension Duration {
    var milliseconds: Double { timeInterval * 1000 }
    var seconds: Double { timeInterval }
}

/// Runs `body` `runs` times and returns each run's wall time in milliseconds.
func timeRuns(_ runs: Int, _ body: () throws -> Void) rethrows -> Samples {
    let clock = ContinuousClock()
    var values: [Double] = []
    for _ in 0..<max(1, runs) {
        let start = clock.now
        try body()
        values.append((clock.now - start).milliseconds)
    }
    return Samples(values)
}

/// `value` with `digits` decimals, "-" for nil.
func format(_ value: Double?, _ digits: Int = 2) -> String {
    guard let value, value.isFinite else { return "-" }
    return String(format: "%.\(digits)f", value)
}

/// A column of `width` characters, right-aligned (left-aligned with a negative width).
func pad(_ text: String, _ width: Int) -> String {
    let count = text.count
    if width < 0 { return text + String(repeating: " ", count: max(0, -width - count)) }
    return String(repeating: " ", count: max(0, width - count)) + text
}

/// Prints a line at once (stdout may be a pipe to tee).
func say(_ text: String = "") {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// A line of progress on stderr.
func progress(_ text: String) {
    FileHandle.standardError.write(Data("[bench] \(text)\n".utf8))
}

/// What /proc says about one process and its threads.
struct ProcessStats {
    let pid: Int32
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime of all its threads, in seconds (/proc/PID/stat fields 14 and 15).
    var cpuSeconds: Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Self.ticksPerSecond
    }

    /// A field of /proc/PID/status in KiB ("VmRSS", "RssAnon", "RssFile", "VmHWM").
    func statusKiB(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    var residentKiB: Int? { statusKiB("VmRSS") }

    /// Voluntary + involuntary context switches per live thread, keyed by "tid name".
    var contextSwitchesByThread: [String: Int] {
        var threads: [String: Int] = [:]
        for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else {
                continue
            }
            var name = "?"
            var count = 0
            for line in text.split(separator: "\n") {
                if line.hasPrefix("Name:") { name = line.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
                    count += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
                }
            }
            threads["\(tid) \(name)"] = count
        }
        return threads
    }
}

/// Context switches of all threads of a process over a window, threads that start or end meanwhile included:
/// sampled often, each thread's first and last count kept; a thread first seen after the start counts from 0.
struct SwitchCounter {
    let process: ProcessStats
    private(set) var first: [String: Int]
    private(set) var last: [String: Int]
    private(set) var threadsBorn = 0

    init(pid: Int32) {
        process = ProcessStats(pid: pid)
        first = process.contextSwitchesByThread
        last = first
    }

    mutating func sample() {
        for (thread, count) in process.contextSwitchesByThread {
            if first[thread] == nil {
                first[thread] = 0
                threadsBorn += 1
            }
            last[thread] = count
        }
    }

    /// Switches per thread over the window (only threads that switched).
    var byThread: [String: Int] {
        var deltas: [String: Int] = [:]
        for (thread, count) in last where count - (first[thread] ?? 0) > 0 {
            deltas[thread] = count - (first[thread] ?? 0)
        }
        return deltas
    }

    var total: Int { byThread.values.reduce(0, +) }
}
