import Foundation

/// What a finished command left behind.
package struct ShellResult: Sendable {
    package var status: Int32
    package var stdout: String
    package var stderr: String

    /// User and system CPU seconds of the command and the children it waited for, from wait4(2). (Not its peak
    /// RSS: a child spawned from a big process inherits the parent's high-water mark at exec.)
    package var cpuSeconds: Double = 0

    package var succeeded: Bool { status == 0 }

    package init(status: Int32, stdout: String, stderr: String, cpuSeconds: Double = 0) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.cpuSeconds = cpuSeconds
    }
}

/// A command that failed, timed out or could not start; the description shows the command and its output.
package struct ShellError: Error, CustomStringConvertible {
    package enum Reason: Sendable {
        case exited(status: Int32)
        case timedOut(after: Duration)
        case couldNotStart(String)
    }

    package var command: [String]
    package var reason: Reason
    package var stdout: String = ""
    package var stderr: String = ""

    package init(command: [String], reason: Reason, stdout: String = "", stderr: String = "") {
        self.command = command
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
    }

    package var description: String {
        let what: String
        switch reason {
        case .exited(let status): what = "exited with status \(status)"
        case .timedOut(let after): what = "timed out after \(after)"
        case .couldNotStart(let why): what = "could not start: \(why)"
        }
        var text = "`\(command.joined(separator: " "))` \(what)"
        let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let out = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if !err.isEmpty { text += "\nstderr: \(err)" }
        if !out.isEmpty { text += "\nstdout: \(out.prefix(2000))" }
        return text
    }
}

/// Runs programs for tests, looking them up on PATH.
///
/// Uses `posix_spawnp` rather than Foundation's `Process`: `Process` hands every child a monitoring socket
/// and only reports the exit once all holders close it, so a command that leaves a background child running
/// (`sh -c 'daemon &'`) would block the caller. Output goes to temporary files, the command runs in its own
/// process group, and a command that times out is killed with that whole group.
package struct Shell {
    /// Runs `args` (program first) and waits for it, at most `timeout`.
    ///
    /// - Parameters:
    ///   - check: throw `ShellError` when the command exits non-zero.
    ///   - input: the command's stdin, which is otherwise /dev/null.
    ///   - environment: replaces the environment when given.
    /// - Returns: the exit status (128 + signal number when killed by a signal) and the output.
    /// - Throws: `ShellError` when the command cannot start or times out (it is then killed), or exits
    ///   non-zero with `check`.
    @discardableResult
    package static func run(
        _ args: [String], timeout: Duration = .seconds(60), check: Bool = true, input: String? = nil,
        environment: [String: String]? = nil
    ) throws -> ShellResult {
        precondition(!args.isEmpty, "Shell.run needs a program")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-shell-\(UUID().uuidString)")
        let outPath = scratch.path + ".out"
        let errPath = scratch.path + ".err"
        let inPath = input == nil ? "/dev/null" : scratch.path + ".in"
        defer {
            for path in [outPath, errPath] { try? FileManager.default.removeItem(atPath: path) }
            if input != nil { try? FileManager.default.removeItem(atPath: inPath) }
        }
        if let input { try input.write(toFile: inPath, atomically: false, encoding: .utf8) }

        let pid = try spawn(args, stdin: inPath, stdout: outPath, stderr: errPath, environment: environment)
        let exit = ChildExit(pid: pid)
        var timedOut = false
        if !exit.wait(timeout: timeout) {
            timedOut = true
            kill(-pid, SIGTERM)
            if !exit.wait(timeout: .seconds(2)) {
                kill(-pid, SIGKILL)
                _ = exit.wait(timeout: .seconds(60))
            }
        }
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        if timedOut {
            throw ShellError(command: args, reason: .timedOut(after: timeout), stdout: stdout, stderr: stderr)
        }
        let result = ShellResult(status: exit.status, stdout: stdout, stderr: stderr, cpuSeconds: exit.cpuSeconds)
        if check && !result.succeeded {
            throw ShellError(command: args, reason: .exited(status: result.status), stdout: stdout, stderr: stderr)
        }
        return result
    }

    /// Starts `args` with the given files as stdin/stdout/stderr, in a new process group; returns its pid.
    private static func spawn(
        _ args: [String], stdin: String, stdout: String, stderr: String, environment: [String: String]?
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let closeFrom = spawnCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let status = withCStrings(args) { argv in
            withCStrings(environmentLines) { envp in
                posix_spawnp(&pid, args[0], &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            throw ShellError(command: args, reason: .couldNotStart(String(cString: strerror(status))))
        }
        return pid
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), which Swift's Glibc module does not export:
    /// keeps the test process's descriptors out of the children.
    private typealias CloseFromFunction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32)
        -> Int32
    private static let spawnCloseFrom: CloseFromFunction? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: CloseFromFunction.self)
    }()

    /// Calls `body` with a NULL-terminated C array of `strings`.
    private static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Waits for one child on a dedicated thread (a blocking `waitpid` must not sit on the test's executor).
private final class ChildExit: @unchecked Sendable {
    private let lock = NSLock()
    private let exited = DispatchSemaphore(value: 0)
    private var rawStatus: Int32 = 0
    private var resources = rusage()

    init(pid: pid_t) {
        let thread = Thread { [self] in
            var status: Int32 = 0
            var usage = rusage()
            var result = wait4(pid, &status, 0, &usage)
            while result < 0 && errno == EINTR { result = wait4(pid, &status, 0, &usage) }
            // Reaped by someone else (ECHILD): the exit status is unknown, report 255 rather than success.
            if result < 0 { status = 255 << 8 }
            lock.lock()
            rawStatus = status
            resources = usage
            lock.unlock()
            exited.signal()
        }
        thread.start()
    }

    /// Whether the child exited within `timeout`.
    func wait(timeout: Duration) -> Bool {
        guard exited.wait(timeout: .now() + timeout.timeInterval) == .success else { return false }
        exited.signal()
        return true
    }

    /// User and system CPU seconds of the child, once it exited.
    var cpuSeconds: Double {
        lock.lock()
        defer { lock.unlock() }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(resources.ru_utime) + seconds(resources.ru_stime)
    }

    /// The exit code, or 128 + the signal number when a signal ended the child.
    var status: Int32 {
        lock.lock()
        defer { lock.unlock() }
        let signal = rawStatus & 0x7f
        return signal == 0 ? (rawStatus >> 8) & 0xff : 128 + signal
    }
}

/// Shorthand for `Shell.run`.
@discardableResult
package func run(
    _ args: [String], timeout: Duration = .seconds(60), check: Bool = true, input: String? = nil
) throws -> ShellResult {
    try Shell.run(args, timeout: timeout, check: check, input: input)
}

extension Duration {
    /// The duration in seconds, for Dispatch and Foundation APIs.
    package var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
