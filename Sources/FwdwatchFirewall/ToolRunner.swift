#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a finished (or stopped) tool run left behind.
public struct ToolOutput: Sendable, Equatable {
    /// The exit code, or 128 + signal number when a signal ended the tool.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The tool ran past the deadline and was killed.
    public var timedOut: Bool
    /// The tool wrote more than the limit and was killed; the output is cut there.
    public var truncated: Bool

    public init(status: Int32, stdout: String, stderr: String, timedOut: Bool = false, truncated: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
        self.truncated = truncated
    }

    public var succeeded: Bool { status == 0 && !timedOut && !truncated }
}

/// Why a tool could not be started.
public struct ToolStartError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var errno: Int32

    public var description: String { "cannot start \(path): \(String(cString: strerror(errno)))" }
}

/// Runs a firewall tool (`iptables-save`, `nft`) with `posix_spawn`, bounded in time and output size.
///
/// Blocks the calling thread until the tool exits, at most `timeout` (then SIGKILL). The tool inherits the
/// calling thread's network namespace. Its stdin is /dev/null and its environment only `PATH` and `LC_ALL=C`.
public struct ToolRunner: Sendable {
    public var timeout: Duration
    /// Bytes of stdout and stderr together before the tool is killed.
    public var outputLimit: Int

    /// The defaults fit a big node: kube-proxy in nftables mode with 10,000 services prints over 32 MB of
    /// JSON and needs more than 5 s; kubernetes #96018 shows a 696k-line iptables-save.
    public init(timeout: Duration = .seconds(30), outputLimit: Int = 512 << 20) {
        self.timeout = timeout
        self.outputLimit = outputLimit
    }

    public func run(_ path: String, _ arguments: [String]) throws(ToolStartError) -> ToolOutput {
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard Self.closeOnExecPipe(&stdoutPipe) else { throw ToolStartError(path: path, errno: errno) }
        guard Self.closeOnExecPipe(&stderrPipe) else {
            let saved = errno
            close(stdoutPipe[0])
            close(stdoutPipe[1])
            throw ToolStartError(path: path, errno: saved)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The daemon may block or ignore signals; the tool starts with defaults.
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { $0.withCString { strdup($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"].map {
            $0.withCString { strdup($0) }
        }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv + [nil], envp + [nil])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard spawned == 0 else {
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw ToolStartError(path: path, errno: spawned)
        }
        defer {
            close(stdoutPipe[0])
            close(stderrPipe[0])
        }
        return collect(pid: pid, stdoutFD: stdoutPipe[0], stderrFD: stderrPipe[0])
    }

    /// `pipe` with both ends close-on-exec (`pipe2` is not exported to Swift).
    private static func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// Reads both pipes until they close, the deadline passes or the output is too large; then reaps.
    private func collect(pid: pid_t, stdoutFD: Int32, stderrFD: Int32) -> ToolOutput {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open = [stdoutFD: true, stderrFD: true]
        var timedOut = false
        var truncated = false
        var buffer = [UInt8](repeating: 0, count: 65536)

        while open.values.contains(true) {
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                timedOut = true
                break
            }
            var fds = open.filter(\.value).map { pollfd(fd: $0.key, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for entry in fds where entry.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.fd == stdoutFD {
                        out.append(contentsOf: buffer[0..<count])
                    } else {
                        err.append(contentsOf: buffer[0..<count])
                    }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    open[entry.fd] = false
                }
            }
            if out.count + err.count > outputLimit {
                truncated = true
                break
            }
        }
        if timedOut || truncated { kill(pid, SIGKILL) }
        let status = reap(pid: pid, until: deadline + .seconds(1))
        return ToolOutput(
            status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
            timedOut: timedOut, truncated: truncated)
    }

    /// Waits for the child; kills it when it is still there at `until` (it closed its pipes but lingers).
    private func reap(pid: pid_t, until: ContinuousClock.Instant) -> Int32 {
        var raw: Int32 = 0
        while true {
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid { break }
            if result < 0 {
                if errno == EINTR { continue }
                return -1
            }
            if ContinuousClock.now >= until {
                kill(pid, SIGKILL)
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(1000)
        }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
