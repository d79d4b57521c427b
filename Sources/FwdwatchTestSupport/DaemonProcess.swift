import Foundation

/// A `fwdwatch run` started by a test inside a network namespace. With `--log-target json` (the default
/// here) its stdout lines are collected as parsed JSON objects. Stopped by PID (SIGTERM) in `stop()` and
/// on deinit.
package final class DaemonProcess: @unchecked Sendable {
    package let process = Process()
    private let lock = NSLock()
    private var buffer = Data()
    private var records: [[String: Any]] = []
    private var stderrText = ""
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()

    package convenience init(
        namespace: NetworkNamespace, arguments: [String] = [], config: String = "/dev/null", logTarget: String = "json"
    ) throws {
        try self.init(
            launcher: ["/usr/sbin/ip", "netns", "exec", namespace.name], arguments: arguments, config: config,
            logTarget: logTarget)
    }

    /// `launcher` is the program (and its arguments) that execs the daemon in its namespaces, keeping the
    /// PID: `ip netns exec NAME`, or `nsenter --mount=... --net=... --`.
    /// Runs the daemon in `namespace` with a configuration file made of `configText`, removed again
    /// when the daemon is stopped.
    package convenience init(namespace: NetworkNamespace, configText: String, arguments: [String] = []) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-daemon-\(randomSuffix()).toml").path
        try configText.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            try self.init(namespace: namespace, arguments: arguments, config: path)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        ownedConfig = path
    }

    /// A configuration file this object wrote and removes in `stop()`.
    private var ownedConfig: String?

    package init(launcher: [String], arguments: [String] = [], config: String = "/dev/null", logTarget: String = "json")
        throws
    {
        process.executableURL = URL(fileURLWithPath: launcher[0])
        process.arguments =
            Array(launcher.dropFirst()) + [fwdwatchBinary(), "run", "--log-target", logTarget, "--config", config]
            + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "WATCHDOG_USEC")
        process.environment = environment
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            self?.take(handle.availableData)
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    deinit { stop() }

    package var pid: Int32 { process.processIdentifier }
    package var isRunning: Bool { process.isRunning }
    package var stderr: String { lock.withLock { stderrText } }

    private func take(_ data: Data) {
        lock.withLock {
            buffer.append(data)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] {
                    records.append(object)
                } else {
                    records.append(["type": "unparsed", "text": String(decoding: line, as: UTF8.self)])
                }
            }
        }
    }

    /// Every record so far.
    package var all: [[String: Any]] { lock.withLock { records } }

    package var alerts: [[String: Any]] { all.filter { $0["type"] as? String == "alert" } }
    package var notices: [[String: Any]] { all.filter { $0["type"] as? String == "notice" } }

    /// Waits for a record after index `from` matching `predicate`; returns it or nil at the deadline.
    package func waitFor(
        from: Int = 0, timeout: Duration = .seconds(10), _ predicate: ([String: Any]) -> Bool
    ) -> [String: Any]? {
        var found: [String: Any]?
        _ = waitUntil(timeout: timeout) {
            found = all.dropFirst(from).first(where: predicate)
            return found != nil
        }
        return found
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
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        take(stdoutPipe.fileHandleForReading.readDataToEndOfFile())
        return (process.terminationStatus, (clock.now - start).timeInterval)
    }
}
