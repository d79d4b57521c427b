import Foundation

/// A private mount namespace inside a test's network namespace, held open by one `sleep infinity`, for a
/// distribution's firewall or network daemon that hard-codes its paths (/etc/ufw, /etc/firewalld, /run/libvirt,
/// ...): each such path is covered, for this holder only, by a bind mount of a scratch copy or by a tmpfs, and
/// every command of the test that needs that view runs through `inside` (`nsenter -t <holder> -m -n`).
///
/// The holder runs as `ip netns exec NS unshare --mount --propagation private sleep infinity`, so its
/// `/sys/class/net` shows the namespace's links. `stop()` kills it by PID (SIGKILL); its mounts go with it.
final class MountNamespaceHolder: @unchecked Sendable {
    let namespace: NetworkNamespace
    private let process = Process()
    private let lock = NSLock()
    private var stopped = false

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    init(namespace: NetworkNamespace) throws {
        self.namespace = namespace
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace.name, "unshare", "--mount", "--propagation", "private", "sleep", "infinity"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        let ours = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")) ?? ""
        let ready = waitUntil(timeout: .seconds(10), interval: .milliseconds(10)) {
            guard let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt"),
                let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
            else { return false }
            return theirs != ours && command.hasPrefix("sleep")
        }
        guard ready else {
            stop()
            throw StackError("the mount namespace holder (ip netns exec \(namespace.name) unshare --mount sleep) did not start")
        }
    }

    deinit { stop() }

    /// Runs `args` in the namespace and the holder's mount namespace.
    @discardableResult
    func inside(
        _ args: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60), check: Bool = true
    ) throws -> ShellResult {
        let env = environment.isEmpty ? [] : ["env"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try Shell.run(["nsenter", "-t", "\(pid)", "-m", "-n", "--"] + env + args, timeout: timeout, check: check)
    }

    /// Runs a shell script there.
    @discardableResult
    func script(_ text: String, check: Bool = true) throws -> ShellResult {
        try inside(["sh", "-c", text], check: check)
    }

    /// Covers `target` with `source` (a scratch copy) for the holder only.
    func bind(_ source: String, over target: String) throws {
        try Shell.run(["nsenter", "-t", "\(pid)", "-m", "--", "mount", "--bind", source, target])
    }

    /// Covers `target` with an empty tmpfs for the holder only.
    func tmpfs(over target: String) throws {
        try Shell.run(["nsenter", "-t", "\(pid)", "-m", "--", "mount", "-t", "tmpfs", "-o", "mode=755", "fwt-stack", target])
    }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Something a real stack of a test could not do.
struct StackError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The programs of `required` that are missing, as "package (path)".
func missingStackPrograms(_ required: [(path: String, package: String)]) -> [String] {
    required.filter { !FileManager.default.isExecutableFile(atPath: $0.path) }.map { "\($0.package) (\($0.path))" }
}

/// Whether `pid` still runs (not gone, not a zombie).
func processIsAlive(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
    return state != "Z" && state != "X"
}

/// PIDs of the machine's processes whose command line contains `text` (a scratch directory of a test).
func pidsWithCommandLine(containing text: String) -> [pid_t] {
    let own = getpid()
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard let value = pid_t(entry), value != own,
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
        else { return nil }
        return String(decoding: data, as: UTF8.self).contains(text) ? value : nil
    }
}

/// SIGTERM to `pid`, SIGKILL when it has not gone within `timeout`.
func terminate(_ pid: pid_t, timeout: Duration = .seconds(10)) {
    guard processIsAlive(pid) else { return }
    kill(pid, SIGTERM)
    if !waitUntil(timeout: timeout, interval: .milliseconds(50), { !processIsAlive(pid) }) {
        kill(pid, SIGKILL)
        _ = waitUntil(timeout: .seconds(5), interval: .milliseconds(50)) { !processIsAlive(pid) }
    }
}

/// The uplink every real-stack test uses: `host` with eth0 192.0.2.10/24 and its default route via the client,
/// `client` with eth0 192.0.2.20/24.
func makeUplink(hostPrefix: String, clientPrefix: String, hostIPv6: Bool = false) throws -> (host: NetworkNamespace, client: NetworkNamespace) {
    let host = try NetworkNamespace(prefix: hostPrefix, disableIPv6: !hostIPv6)
    let client: NetworkNamespace
    do {
        client = try NetworkNamespace(prefix: clientPrefix)
    } catch {
        host.delete()
        throw error
    }
    do {
        try host.addVethPair("eth0", "eth0", peerNamespace: client)
        try host.addAddress("192.0.2.10/24", to: "eth0")
        try client.addAddress("192.0.2.20/24", to: "eth0")
        try host.ip(["route", "add", "default", "via", "192.0.2.20", "dev", "eth0"])
    } catch {
        host.delete()
        client.delete()
        throw error
    }
    return (host, client)
}

/// The HTTP status `namespace` gets from `url` ("000" when nothing answered within `seconds`).
func httpStatus(from namespace: NetworkNamespace, _ url: String, seconds: Int = 1) throws -> String {
    try namespace.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "\(seconds)", url], check: false).stdout
}

/// Findings of warning or critical severity of one `check --json`, as "rule subject".
func stackAlarms(_ check: CheckOutput) -> [String] {
    let document = try? JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any]
    let findings = document?["findings"] as? [[String: Any]] ?? []
    return findings.filter { ["warning", "critical"].contains($0["severity"] as? String ?? "") }
        .map { "\($0["rule"] as? String ?? "") \($0["subject"] as? String ?? "")" }
}

/// `fwdwatch check` in text form, for failure messages.
func stackCheckText(_ namespace: NetworkNamespace) -> String {
    (try? namespace.exec([fwdwatchBinary(), "check", "--sample", "0", "--config", "/dev/null"], check: false).stdout) ?? ""
}

/// The ingresses of the published port `subject` ("10001/tcp") in one check, sorted.
func ingresses(_ check: CheckOutput, of subject: String) -> [String]? {
    let entry = check.publishedPorts.first { entry in
        guard let port = entry["port"] as? [String: Any], let transport = port["transport"] as? String,
            let range = port["hostPorts"] as? [String: Any], let first = range["first"] as? Int
        else { return false }
        return "\(first)/\(transport)" == subject
    }
    guard let entry else { return nil }
    return (entry["paths"] as? [[String: Any]] ?? []).compactMap { $0["ingress"] as? String }.sorted()
}

/// The published-port subjects ("10001/tcp") of one check, sorted.
func publishedSubjects(_ check: CheckOutput) -> [String] {
    check.publishedPorts.compactMap { entry in
        guard let port = entry["port"] as? [String: Any], let transport = port["transport"] as? String,
            let range = port["hostPorts"] as? [String: Any], let first = range["first"] as? Int
        else { return nil }
        return "\(first)/\(transport)"
    }.sorted()
}

/// Every network namespace under /run/netns whose name starts with `prefix`.
func namespaces(prefixed prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
}
