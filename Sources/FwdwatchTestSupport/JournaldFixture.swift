import Foundation

/// A standalone systemd-journald for tests, started only when none answers on /run/systemd/journal/socket.
///
/// Shared by every test in the process and reference-counted: `acquire()` starts it if needed,
/// `release()` stops it when the last user is done (only if this process started it). It is started from
/// the calling thread's namespace, which must be the root one: journald started through `ip netns exec`
/// exits, and a thread inside `NetworkNamespace.onThreadInside` would hand its namespace to the child.
///
///     let journald = try JournaldFixture.acquire()
///     defer { journald.release() }
package final class JournaldFixture: @unchecked Sendable {
    package static let socketPath = "/run/systemd/journal/socket"
    package static let executable = "/lib/systemd/systemd-journald"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var users = 0
    nonisolated(unsafe) private static var started: Process?

    private let releaseLock = NSLock()
    private var released = false

    private init() {}

    /// Whether this process started the running journald (false when one was already there).
    package static var startedByTests: Bool {
        lock.lock()
        defer { lock.unlock() }
        return started != nil
    }

    /// Makes sure a journald is running and registers a user.
    /// - Throws: `JournaldFixtureError` when journald cannot be started or does not answer within `timeout`.
    package static func acquire(timeout: Duration = .seconds(10)) throws -> JournaldFixture {
        lock.lock()
        defer { lock.unlock() }
        if !isAnswering() {
            try start(timeout: timeout)
        }
        users += 1
        return JournaldFixture()
    }

    /// Unregisters this user; the last one stops a journald the tests started. Safe to call twice.
    package func release() {
        releaseLock.lock()
        let first = !released
        released = true
        releaseLock.unlock()
        guard first else { return }
        Self.lock.lock()
        defer { Self.lock.unlock() }
        Self.users -= 1
        if Self.users == 0, let process = Self.started {
            Self.started = nil
            Self.stop(process)
        }
    }

    deinit { release() }

    /// Whether a journald accepts datagrams on its native socket.
    package static func isAnswering() -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) == 0 }
        }
    }

    private static func start(timeout: Duration) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw JournaldFixtureError(reason: "\(executable) is missing (package systemd)")
        }
        try FileManager.default.createDirectory(
            atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw JournaldFixtureError(reason: "cannot start \(executable): \(error)")
        }
        let answered = waitUntil(timeout: timeout) { isAnswering() || !process.isRunning }
        guard answered, process.isRunning else {
            if process.isRunning { stop(process) }
            throw JournaldFixtureError(
                reason: process.isRunning
                    ? "journald did not open \(socketPath) within \(timeout)"
                    : "journald exited with status \(process.terminationStatus) (started in a network namespace?)")
        }
        started = process
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        if !waitUntil(timeout: .seconds(5), { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

package struct JournaldFixtureError: Error, CustomStringConvertible {
    package var reason: String
    package var description: String { "journald fixture: \(reason)" }
}
