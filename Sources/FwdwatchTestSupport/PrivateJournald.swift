import Foundation

/// A systemd-journald of the tests' own, in a private mount namespace that only one dedicated thread enters.
///
/// The thread unshares its mount namespace and mounts empty tmpfs over /run/systemd, /run/log and
/// /var/log/journal, so the journald it starts, the entries it sends with `sd_journal_sendv` and the
/// `journalctl` it runs see only each other: a journald of the host (if any) is neither used nor disturbed,
/// and stopping ours (the fault tests) affects no other test. Needs root (CAP_SYS_ADMIN).
package final class PrivateJournald: @unchecked Sendable {
    package static let executable = "/lib/systemd/systemd-journald"
    package static let socketPath = "/run/systemd/journal/socket"

    private var process: Process?

    private init() {}

    /// Runs `body` on a dedicated thread inside the private namespace with journald running; stops journald
    /// (by PID) afterwards, also when `body` throws.
    package static func run<T: Sendable>(_ body: @escaping @Sendable (PrivateJournald) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let journald = PrivateJournald()
                do {
                    try enterPrivateMountNamespace()
                    try journald.start()
                    defer { journald.stop() }
                    continuation.resume(returning: try body(journald))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "private-journald"
            thread.start()
        }
    }

    /// Starts journald and waits until it answers on its socket.
    package func start(timeout: Duration = .seconds(10)) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        guard waitUntil(timeout: timeout, { Self.isAnswering() || !process.isRunning }), process.isRunning else {
            stop()
            throw PrivateJournaldError("journald did not start (exit status \(process.terminationStatus))")
        }
    }

    /// Stops our journald by its PID; the socket file stays, so senders get ECONNREFUSED.
    package func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if !waitUntil(timeout: .seconds(5), { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.process = nil
    }

    /// Every entry with SYSLOG_IDENTIFIER `identifier`, oldest first, from journalctl's JSON output. A field
    /// sent more than once (journalctl gives an array) has its values joined by newlines.
    package func entries(identifier: String) throws -> [[String: String]] {
        let result = try Shell.run(
            ["journalctl", "--no-pager", "-o", "json", "--identifier=\(identifier)"],
            timeout: .seconds(30), check: false)
        return result.stdout.split(separator: "\n").compactMap { line -> [String: String]? in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                return nil
            }
            var entry: [String: String] = [:]
            for (name, value) in object {
                if let text = value as? String {
                    entry[name] = text
                } else if let values = value as? [Any] {
                    entry[name] = values.map { String(describing: $0) }.joined(separator: "\n")
                }
            }
            return entry
        }
    }

    /// Waits (with a deadline) until at least `count` entries of `identifier` are in the journal.
    package func waitForEntries(identifier: String, count: Int, timeout: Duration = .seconds(10)) throws -> [[String: String]] {
        var entries: [[String: String]] = []
        _ = try waitUntil(timeout: timeout, interval: .milliseconds(50)) {
            entries = try self.entries(identifier: identifier)
            return entries.count >= count
        }
        return entries
    }

    /// Whether journald accepts a connection on its native socket (path resolved in this thread's mount
    /// namespace, so inside the private one this is the private journald).
    package static func isAnswering() -> Bool { JournaldFixture.isAnswering() }

    /// unshare(CLONE_NEWNS) for the calling thread only, then private propagation and empty journal directories.
    private static func enterPrivateMountNamespace() throws {
        typealias Unshare = @convention(c) (Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else {
            throw PrivateJournaldError("unshare(2) not found")
        }
        let unshare = unsafeBitCast(symbol, to: Unshare.self)
        let cloneNewNS: Int32 = 0x0002_0000
        guard unshare(cloneNewNS) == 0 else {
            throw PrivateJournaldError("unshare(CLONE_NEWNS) failed: \(String(cString: strerror(errno)))")
        }
        // Children started from this thread share its new namespace, so plain mount(8) calls shape it.
        try Shell.run(["mount", "--make-rprivate", "/"])
        try FileManager.default.createDirectory(atPath: "/run/systemd", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "/run/log", withIntermediateDirectories: true)
        try Shell.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "fwt-journal", "/run/systemd"])
        try Shell.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "fwt-journal", "/run/log"])
        if FileManager.default.fileExists(atPath: "/var/log/journal") {
            try Shell.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "fwt-journal", "/var/log/journal"])
        }
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
    }
}

package struct PrivateJournaldError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// A SYSLOG_IDENTIFIER no other test run uses.
package func uniqueIdentifier(_ prefix: String = "fwdwatch-test") -> String {
    "\(prefix)-\(getpid())-\(randomSuffix())"
}
