import Foundation

// The processes a real stack of a test starts, and how they are stopped: always by PID, never by name.

/// Whether `pid` still runs (not gone, not a zombie).
package func processIsAlive(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
    return state != "Z" && state != "X"
}

/// PIDs of the machine's processes whose command line contains `text` (a scratch directory of a test).
package func pidsWithCommandLine(containing text: String) -> [pid_t] {
    let own = getpid()
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard let value = pid_t(entry), value != own,
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
        else { return nil }
        return String(decoding: data, as: UTF8.self).contains(text) ? value : nil
    }
}

/// SIGTERM to `pid`, SIGKILL when it has not gone within `timeout`.
package func terminate(_ pid: pid_t, timeout: Duration = .seconds(10)) {
    guard processIsAlive(pid) else { return }
    kill(pid, SIGTERM)
    if !waitUntil(timeout: timeout, interval: .milliseconds(50), { !processIsAlive(pid) }) {
        kill(pid, SIGKILL)
        _ = waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) { !processIsAlive(pid) }
    }
}

/// SIGKILL to every live process `leftovers` finds, until it finds none (three rounds at most, each waiting up
/// to 5 s for them to go): what a stack left running after its daemons were stopped.
package func killUntilGone(_ leftovers: () -> Set<pid_t>) {
    for _ in 0..<3 {
        let pids = leftovers().filter(processIsAlive)
        if pids.isEmpty { return }
        for pid in pids { kill(pid, SIGKILL) }
        _ = waitUntil(timeout: .seconds(5), interval: .milliseconds(50)) { pids.allSatisfy { !processIsAlive($0) } }
    }
}

/// Starts `command` in the background, stdout and stderr to the file `log`, stdin /dev/null, and returns its PID.
/// Each program of the chain must exec the next (nsenter, unshare, env do), so the PID is the last one's own.
///
/// It runs as `sh -c '(exec ...) & echo $!'` in a shell started by Shell (posix_spawn with an empty signal mask):
/// the daemon must not inherit the blocked signals of a dispatch worker thread, or SIGTERM would not stop it.
package func startDetached(_ command: [String], log: String) throws -> pid_t {
    let script = "exec " + command.map(shellQuoted).joined(separator: " ") + " >\(shellQuoted(log)) 2>&1 </dev/null"
    let started = try Shell.run(["sh", "-c", "(\(script)) & echo $!"], timeout: .seconds(10))
    guard let pid = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
        throw StackError("could not start \(command.joined(separator: " ")): \(started.stdout) \(started.stderr)")
    }
    return pid
}

/// `env -u NAME K=V` in front of a program: `environment` added (sorted by name), `unsetting` removed; nothing
/// when there is neither.
package func envPrefix(_ environment: [String: String], unsetting: [String] = []) -> [String] {
    if environment.isEmpty && unsetting.isEmpty { return [] }
    return ["env"] + unsetting.flatMap { ["-u", $0] } + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
}

/// `value` quoted for sh.
package func shellQuoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The last `count` characters of the file at `path` ("" when there is none), for failure messages.
package func logTail(_ path: String, count: Int = 3000) -> String {
    String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(count))
}

/// Lets a teardown run once, however many times `delete()`, `stop()` or deinit ask for it.
package final class OneTimeTeardown: @unchecked Sendable {
    private let lock = NSLock()
    private var begun = false

    package init() {}

    /// True the first time only: the caller tears down.
    package func begin() -> Bool {
        lock.withLock {
            if begun { return false }
            begun = true
            return true
        }
    }
}

/// Something a real stack of a test could not do.
package struct StackError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
