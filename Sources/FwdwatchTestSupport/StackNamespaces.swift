import Foundation

/// A private mount namespace inside a test's network namespace, held open by one `sleep infinity`, for a
/// distribution's firewall, network daemon or container engine that hard-codes its paths (/etc/ufw,
/// /etc/firewalld, /run/libvirt, /run/lxc, /etc/containers, ...): each such path is covered, for this holder only,
/// by a bind mount of a scratch copy or by a tmpfs, and every command of the test that needs that view runs
/// through `inside` (`nsenter -t <holder> -m -n`).
///
/// `stop()` (also on deinit) kills by PID whatever still runs in the holder's mount namespace (what the daemons
/// in there left: dnsmasq, conmon, ...), then the holder itself (SIGKILL); its mounts go with it.
package final class MountNamespaceHolder: @unchecked Sendable {
    /// How the holder enters the network namespace, which decides the /sys it and every command inside see.
    package enum Entry: Sendable {
        /// `ip netns exec NS unshare --mount ...`: /sys is remounted for the namespace, so /sys/class/net shows
        /// its links (what lxc-net, ufw, firewalld and libvirt read).
        case ipNetnsExec
        /// `nsenter --net=/run/netns/NS -- unshare --mount ...`: the machine's /sys stays, with the cgroup mounts
        /// a container runtime needs (podman's crun).
        case nsenterKeepingSys
    }

    package let namespace: NetworkNamespace
    private let process = Process()
    private let teardown = OneTimeTeardown()

    package var pid: Int32 { process.processIdentifier }
    /// The launcher that enters the holder's mount namespace and the network namespace.
    package var entering: [String] { ["nsenter", "-t", "\(pid)", "-m", "-n", "--"] }
    package var isRunning: Bool { process.isRunning }

    package init(namespace: NetworkNamespace, entry: Entry = .ipNetnsExec) throws {
        self.namespace = namespace
        switch entry {
        case .ipNetnsExec:
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace.name, "unshare", "--mount", "--propagation", "private", "sleep", "infinity"]
        case .nsenterKeepingSys:
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = [
                "--net=\(namespace.path)", "--", "unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity",
            ]
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        let ours = mountNamespace(of: getpid()) ?? ""
        let ready = waitUntil(timeout: .seconds(10), interval: .milliseconds(10)) {
            guard let theirs = mountNamespace(of: pid),
                let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
            else { return false }
            return theirs != ours && command.hasPrefix("sleep")
        }
        guard ready else {
            stop()
            throw StackError("the mount namespace holder (\(entry) \(namespace.name) unshare --mount sleep) did not start")
        }
    }

    deinit { stop() }

    /// Runs `args` in the namespace and the holder's mount namespace, with `environment` added and the variables
    /// of `unsetting` removed (`env -u NAME K=V ...`).
    @discardableResult
    package func inside(
        _ args: [String], environment: [String: String] = [:], unsetting: [String] = [], timeout: Duration = .seconds(60),
        check: Bool = true
    ) throws -> ShellResult {
        try Shell.run(entering + envPrefix(environment, unsetting: unsetting) + args, timeout: timeout, check: check)
    }

    /// Runs a shell script there.
    @discardableResult
    package func script(_ text: String, check: Bool = true) throws -> ShellResult {
        try inside(["sh", "-c", text], check: check)
    }

    /// Starts `args` there in the background, output to `log`; returns its PID (nsenter and env exec the
    /// program, so it is the program's own).
    package func startInBackground(_ args: [String], environment: [String: String] = [:], log: String) throws -> pid_t {
        try startDetached(entering + envPrefix(environment) + args, log: log)
    }

    /// Covers `target` with `source` (a scratch copy) for the holder only.
    package func bind(_ source: String, over target: String) throws {
        try Shell.run(["nsenter", "-t", "\(pid)", "-m", "--", "mount", "--bind", source, target])
    }

    /// Covers `target` with an empty tmpfs for the holder only.
    package func tmpfs(over target: String) throws {
        try Shell.run(["nsenter", "-t", "\(pid)", "-m", "--", "mount", "-t", "tmpfs", "-o", "mode=755", "fwt-stack", target])
    }

    /// The PID a daemon inside wrote to `path` (as the holder sees it: under its tmpfs /run); nil when there is none.
    package func pidFile(_ path: String) -> pid_t? {
        guard isRunning, let text = try? String(contentsOfFile: "/proc/\(pid)/root\(path)", encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// PIDs of the live processes in the holder's mount namespace other than the holder (libvirtd, dnsmasq, conmon, ...).
    package func processesInside() -> Set<pid_t> {
        guard isRunning, let mine = mountNamespace(of: pid) else { return [] }
        return Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let other = pid_t(entry), other != pid, mountNamespace(of: other) == mine, processIsAlive(other) else { return nil }
            return other
        })
    }

    package func stop() {
        guard teardown.begin() else { return }
        if process.isRunning {
            killUntilGone { processesInside() }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// The mount namespace of `pid` ("mnt:[4026531841]"), nil when it is gone.
private func mountNamespace(of pid: pid_t) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
}

/// The uplink every real-stack test uses, in two new namespaces `<prefix>-host-<random>` and
/// `<prefix>-client-<random>`: `host` with eth0 192.0.2.10/24 and its default route via the client, `client` with
/// eth0 192.0.2.20/24. Neither is left behind when building fails.
package func makeUplink(prefix: String, hostIPv6: Bool = false) throws -> (host: NetworkNamespace, client: NetworkNamespace) {
    let host = try NetworkNamespace(prefix: prefix + "-host", disableIPv6: !hostIPv6)
    let client: NetworkNamespace
    do {
        client = try NetworkNamespace(prefix: prefix + "-client")
    } catch {
        host.delete()
        throw error
    }
    do {
        try host.addVethPair(uplinkInterface, uplinkInterface, peerNamespace: client)
        try host.addAddress("\(uplinkHostAddress)/24", to: uplinkInterface)
        try client.addAddress("\(uplinkClientAddress)/24", to: uplinkInterface)
        try host.ip(["route", "add", "default", "via", uplinkClientAddress, "dev", uplinkInterface])
    } catch {
        host.delete()
        client.delete()
        throw error
    }
    return (host, client)
}

package let uplinkInterface = "eth0"
package let uplinkHostAddress = "192.0.2.10"
package let uplinkClientAddress = "192.0.2.20"

extension NetworkNamespace {
    /// Plugs `guest` (a namespace standing in for a VM or a container) into `bridge` here: a veth `port` here on
    /// the bridge, `eth0` with `address`/24 in the guest, its default route via `gateway`.
    package func plugGuest(_ guest: NetworkNamespace, port: String, into bridge: String, address: String, gateway: String) throws {
        try addVethPair(port, "eth0", peerNamespace: guest)
        try attach(port: port, to: bridge)
        try guest.addAddress("\(address)/24", to: "eth0")
        try guest.ip(["route", "add", "default", "via", gateway, "dev", "eth0"])
    }
}

/// The curl command line that prints the HTTP status of `url` ("000" when nothing answered within `seconds`),
/// optionally from the local address `interface`.
package func curlStatusCommand(_ url: String, seconds: Int, interface: String? = nil) -> [String] {
    var command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "\(seconds)"]
    if let interface { command += ["--interface", interface] }
    return command + [url]
}

/// What `namespace` gets from `url`: the HTTP status ("000" when nothing answered within `seconds`) and curl's exit
/// status (7: refused, 28: timed out).
package func httpAttempt(from namespace: NetworkNamespace, _ url: String, seconds: Int = 1, interface: String? = nil) throws
    -> (status: String, exit: Int32)
{
    let result = try namespace.exec(curlStatusCommand(url, seconds: seconds, interface: interface), check: false)
    return (result.stdout, result.status)
}

/// The HTTP status `namespace` gets from `url` ("000" when nothing answered within `seconds`).
package func httpStatus(from namespace: NetworkNamespace, _ url: String, seconds: Int = 1) throws -> String {
    try httpAttempt(from: namespace, url, seconds: seconds).status
}

/// Every network namespace under /run/netns whose name starts with `prefix`.
package func namespaces(prefixed prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
}

/// Runs `build`; when it throws, deletes `namespaces` (made just before) and rethrows.
package func deletingOnFailure<T>(_ namespaces: [NetworkNamespace], build: () throws -> T) throws -> T {
    do {
        return try build()
    } catch {
        for namespace in namespaces { namespace.delete() }
        throw error
    }
}
