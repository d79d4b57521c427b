import Foundation

/// A `fwdwatch run` started by a test or the benchmark inside a network namespace. With `--log-target json`
/// (the default here) its stdout lines are collected as parsed JSON objects, each with the moment it was read
/// (a thread of its own blocks in read(2) on the pipe, so that moment is when the line left the daemon, give or
/// take a wakeup). Stopped by PID (SIGTERM) in `stop()` and on deinit.
package final class DaemonProcess: @unchecked Sendable {
    package let process = Process()
    private let lock = NSLock()
    private var stderrText = ""
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lines = StdoutLines()

    /// Runs the daemon in `namespace` (`ip netns exec NAME`).
    /// - Parameters:
    ///   - binary: the `fwdwatch` to run (the benchmark runs the release build).
    ///   - environment: added to the daemon's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, which are
    ///     otherwise removed).
    package convenience init(
        namespace: NetworkNamespace, arguments: [String] = [], config: String = "/dev/null", logTarget: String = "json",
        binary: String = fwdwatchBinary(), environment: [String: String] = [:]
    ) throws {
        try self.init(
            launcher: ["/usr/sbin/ip", "netns", "exec", namespace.name], arguments: arguments, config: config,
            logTarget: logTarget, binary: binary, environment: environment)
    }

    /// Runs the daemon in `namespace` with a configuration file made of `configText`, removed again
    /// when the daemon is stopped.
    package convenience init(
        namespace: NetworkNamespace, configText: String, arguments: [String] = [], logTarget: String = "json",
        binary: String = fwdwatchBinary(), environment: [String: String] = [:]
    ) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-daemon-\(randomSuffix()).toml").path
        try configText.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            try self.init(
                namespace: namespace, arguments: arguments, config: path, logTarget: logTarget, binary: binary,
                environment: environment)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        ownedConfig = path
    }

    /// A configuration file this object wrote and removes in `stop()`.
    private var ownedConfig: String?

    /// `launcher` is the program (and its arguments) that execs the daemon in its namespaces, keeping the
    /// PID: `ip netns exec NAME`, or `nsenter --mount=... --net=... --`.
    package init(
        launcher: [String], arguments: [String] = [], config: String = "/dev/null", logTarget: String = "json",
        binary: String = fwdwatchBinary(), environment extra: [String: String] = [:]
    ) throws {
        process.executableURL = URL(fileURLWithPath: launcher[0])
        process.arguments =
            Array(launcher.dropFirst()) + [binary, "run", "--log-target", logTarget, "--config", config] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "WATCHDOG_USEC")
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        lines.startReading(stdoutPipe)
    }

    deinit { stop() }

    package var pid: Int32 { process.processIdentifier }
    package var isRunning: Bool { process.isRunning }
    package var stderr: String { lock.withLock { stderrText } }

    /// Every record so far.
    package var all: [[String: Any]] { lines.records(from: 0).map(\.record) }

    /// The records from index `from` on, each with the moment its line was read from the pipe.
    package func timedRecords(from: Int = 0) -> [(at: ContinuousClock.Instant, record: [String: Any])] {
        lines.records(from: from)
    }

    /// How many records there are so far.
    package var count: Int { lines.count }

    /// Blocks until there are more than `count` records or stdout ended, at most `timeout`; returns whether
    /// there are.
    package func waitForMore(than count: Int, timeout: Duration) -> Bool {
        lines.waitForMore(than: count, timeout: timeout)
    }

    package var alerts: [[String: Any]] { all.filter { $0["type"] as? String == "alert" } }
    package var notices: [[String: Any]] { all.filter { $0["type"] as? String == "notice" } }

    /// Waits for a record after index `from` matching `predicate`; returns it or nil at the deadline.
    package func waitFor(
        from: Int = 0, timeout: Duration = .seconds(10), _ predicate: ([String: Any]) -> Bool
    ) -> [String: Any]? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var seen = from
        while true {
            let fresh = lines.records(from: seen)
            if let found = fresh.first(where: { predicate($0.record) }) { return found.record }
            seen += fresh.count
            let left = deadline - clock.now
            if left <= .zero { return nil }
            if !lines.waitForMore(than: seen, timeout: min(left, .milliseconds(200))) && lines.ended {
                if clock.now >= deadline { return nil }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }

    package func waitForAlert(
        from: Int = 0, _ state: String, rule: String, subject: String? = nil, timeout: Duration = .seconds(10)
    ) -> [String: Any]? {
        waitFor(from: from, timeout: timeout) { record in
            record["type"] as? String == "alert" && record["state"] as? String == state
                && record["rule"] as? String == rule && (subject == nil || record["subject"] as? String == subject)
        }
    }

    /// Ready: the daemon logs its "started" notice after the first full evaluation.
    package func waitUntilStarted(timeout: Duration = .seconds(20)) -> Bool {
        waitFor(timeout: timeout) { ($0["message"] as? String)?.hasPrefix("fwdwatch started") == true } != nil
    }

    /// The (rule, subject) pairs the daemon considers active: raised minus resolved, in log order.
    package var activeKeys: Set<String> {
        var active = Set<String>()
        for alert in alerts {
            let key = "\(alert["rule"] as? String ?? "") \(alert["subject"] as? String ?? "")"
            switch alert["state"] as? String {
            case "raised", "changed": active.insert(key)
            case "resolved": active.remove(key)
            default: break
            }
        }
        return active
    }

    package func signal(_ number: Int32) { kill(pid, number) }

    /// SIGTERM, then waits up to `timeout` for the exit; SIGKILL after that. Returns the exit status
    /// and how long the exit took.
    @discardableResult
    package func stop(timeout: Duration = .seconds(5)) -> (status: Int32, seconds: Double)? {
        defer {
            if let ownedConfig { try? FileManager.default.removeItem(atPath: ownedConfig) }
            ownedConfig = nil
        }
        guard process.isRunning else { return nil }
        let clock = ContinuousClock()
        let start = clock.now
        kill(pid, SIGTERM)
        let exited = waitUntil(timeout: timeout, interval: .milliseconds(5)) { !process.isRunning }
        if !exited { kill(pid, SIGKILL) }
        process.waitUntilExit()
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        // The last lines: the reader stops at end of file, which comes once the daemon (and any child that
        // inherited its stdout) is gone.
        _ = lines.waitUntilEnded(timeout: .seconds(5))
        return (process.terminationStatus, (clock.now - start).timeInterval)
    }
}

/// The daemon's stdout as parsed lines, filled by a reader thread of its own: it holds the pipe (not the
/// `DaemonProcess`, whose deinit stops the daemon) and ends at end of file.
private final class StdoutLines: @unchecked Sendable {
    private let condition = NSCondition()
    private var buffer = Data()
    private var records: [(at: ContinuousClock.Instant, record: [String: Any])] = []
    private var finished = false

    func startReading(_ pipe: Pipe) {
        let thread = Thread { [self] in
            let fd = pipe.fileHandleForReading.fileDescriptor
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                take(Data(chunk[0..<count]), at: .now)
            }
            condition.withLock {
                finished = true
                condition.broadcast()
            }
            withExtendedLifetime(pipe) {}
        }
        thread.name = "daemon-stdout"
        thread.start()
    }

    private func take(_ data: Data, at moment: ContinuousClock.Instant) {
        condition.withLock {
            buffer.append(data)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] {
                    records.append((moment, object))
                } else {
                    records.append((moment, ["type": "unparsed", "text": String(decoding: line, as: UTF8.self)]))
                }
            }
            condition.broadcast()
        }
    }

    var count: Int { condition.withLock { records.count } }
    var ended: Bool { condition.withLock { finished } }

    func records(from index: Int) -> [(at: ContinuousClock.Instant, record: [String: Any])] {
        condition.withLock { index < records.count ? Array(records[max(0, index)...]) : [] }
    }

    func waitForMore(than count: Int, timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout.timeInterval)
        return condition.withLock {
            while records.count <= count && !finished {
                if !condition.wait(until: deadline) { break }
            }
            return records.count > count
        }
    }

    func waitUntilEnded(timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout.timeInterval)
        return condition.withLock {
            while !finished {
                if !condition.wait(until: deadline) { break }
            }
            return finished
        }
    }
}
