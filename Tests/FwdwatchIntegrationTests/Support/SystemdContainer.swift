import Foundation

/// The host's own systemd booted as PID 1 in an ephemeral container (`systemd-nspawn --directory=/
/// --volatile=yes --boot`), inside a network namespace the test built, so units run there watch that
/// namespace. Driven from outside with `nsenter -t <PID 1> -a systemctl/journalctl ...` (no D-Bus needed).
///
/// The container sees the host's `/usr` read-only and a fresh tmpfs for everything else. Each `Bind` adds a
/// file or directory from the host. `powerOff()` (also run on deinit) shuts it down and, failing that, kills
/// the `systemd-nspawn` process this object started, by PID.
final class SystemdContainer: @unchecked Sendable {
    /// A host path made visible inside the container.
    struct Bind: Sendable {
        var source: String
        var target: String
        var writable = false

        var argument: String { "--bind\(writable ? "" : "-ro")=\(source):\(target)" }
    }

    /// Units that would touch the test's network namespace or start unrelated work at boot.
    static let maskedUnits = [
        "nftables.service", "systemd-networkd-wait-online.service", "systemd-machine-id-commit.service",
        // It applies /usr/lib/sysctl.d to the (writable) /proc/sys/net of the namespace: keep the topology as built.
        "systemd-sysctl.service",
    ] + stackUnits

    /// The container and firewall stacks the real-stack tests install (scripts/test.sh): their packages enable
    /// these units, and a container booted from `/` would start them (dockerd, firewalld, lxc-net, ...).
    static let stackUnits = [
        "docker.service", "docker.socket", "containerd.service", "podman.service", "podman.socket",
        "podman-restart.service", "podman-auto-update.service", "podman-auto-update.timer", "lxc.service",
        "lxc-net.service", "lxc-monitord.service", "ufw.service", "firewalld.service", "libvirtd.service",
        "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "virtlogd.socket", "virtlockd.socket",
    ]

    /// Whether this machine can boot one: root and `systemd-nspawn` installed.
    static var isAvailable: Bool { isRoot && nspawnPath != nil }

    static var nspawnPath: String? {
        ["/usr/bin/systemd-nspawn", "/bin/systemd-nspawn"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    let machine: String
    /// PID of container's systemd as seen from the host.
    let leader: Int32
    /// From launching `systemd-nspawn` to `systemctl is-system-running` answering `running` (or `degraded`).
    let bootSeconds: Double
    let scratch: URL
    private let nspawn: Process
    private let lock = NSLock()
    private var poweredOff = false

    /// What nspawn and the container's console printed.
    var consoleLog: String {
        (try? String(contentsOf: scratch.appendingPathComponent("console.log"), encoding: .utf8)) ?? ""
    }

    /// Boots the container in `namespace` with `binds`; returns once the system is up.
    ///
    /// - Throws: when nspawn exits early or the system does not come up within `timeout` (the container is
    ///   then killed).
    /// `nspawnArguments` go to systemd-nspawn before the boot arguments (`--capability=CAP_BPF` ...).
    init(namespace: NetworkNamespace, binds: [Bind], nspawnArguments: [String] = [], timeout: Duration = .seconds(60)) throws {
        guard let nspawnPath = Self.nspawnPath else { throw ContainerError("systemd-nspawn is not installed") }
        machine = "fwt-\(randomSuffix())"
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(machine)-boot")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let machineID = randomSuffix(length: 32)
        let machineIDFile = scratch.appendingPathComponent("machine-id")
        try Data("\(machineID)\n".utf8).write(to: machineIDFile)
        let console = scratch.appendingPathComponent("console.log")
        _ = FileManager.default.createFile(atPath: console.path, contents: nil)
        let consoleHandle = try FileHandle(forWritingTo: console)
        defer { try? consoleHandle.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: nspawnPath)
        process.arguments =
            [
                "--directory=/", "--volatile=yes", "--register=no", "--keep-unit", "--boot", "--console=passive",
                "--machine=\(machine)", "--uuid=\(machineID)",
                "--network-namespace-path=\(namespace.path)", "--private-network",
                "--bind-ro=\(machineIDFile.path):/etc/machine-id", "--bind-ro=/etc/alternatives",
                "--bind-ro=/etc/ld.so.cache",
            ] + binds.map(\.argument) + nspawnArguments + ["systemd.firstboot=off"]
            + Self.maskedUnits.map { "systemd.mask=\($0)" }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = consoleHandle
        process.standardError = consoleHandle
        let clock = ContinuousClock()
        let launched = clock.now
        try process.run()
        nspawn = process

        var leader: Int32?
        var state = ""
        let up = waitUntil(timeout: timeout, interval: .milliseconds(20)) {
            guard process.isRunning else { return true }
            if leader == nil { leader = Self.child(of: process.processIdentifier) }
            guard let pid = leader else { return false }
            state = (try? Shell.run(
                ["nsenter", "-t", String(pid), "-a", "systemctl", "is-system-running"], timeout: .seconds(10),
                check: false))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return state == "running" || state == "degraded"
        }
        guard up, process.isRunning, let leader else {
            let log = (try? String(contentsOf: console, encoding: .utf8)) ?? ""
            Self.kill(process)
            try? FileManager.default.removeItem(at: scratch)
            throw ContainerError(
                "the container did not come up (state \"\(state)\", nspawn running: \(process.isRunning)); console:\n"
                    + log.suffix(3000))
        }
        self.leader = leader
        bootSeconds = (clock.now - launched).timeInterval
    }

    deinit { powerOff() }

    /// Runs a command inside the container (all namespaces of its PID 1).
    @discardableResult
    func run(_ args: [String], check: Bool = true, timeout: Duration = .seconds(60)) throws -> ShellResult {
        try Shell.run(["nsenter", "-t", String(leader), "-a"] + args, timeout: timeout, check: check)
    }

    @discardableResult
    func systemctl(_ args: [String], check: Bool = true) throws -> ShellResult {
        try run(["systemctl", "--no-pager"] + args, check: check)
    }

    /// `systemctl show -p ...` as a dictionary.
    func properties(_ unit: String, _ names: [String]) throws -> [String: String] {
        let output = try systemctl(["show", unit] + names.map { "--property=\($0)" }).stdout
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    func property(_ unit: String, _ name: String) throws -> String {
        try properties(unit, [name])[name] ?? ""
    }

    /// The cursor of the journal's last entry: what is logged after it is what a test step caused.
    func journalCursor() throws -> String {
        let output = try run(["journalctl", "-q", "-n", "1", "--show-cursor", "-o", "cat"]).stdout
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("-- cursor: ") }) else {
            throw ContainerError("journalctl printed no cursor: \(output)")
        }
        return String(line.dropFirst("-- cursor: ".count))
    }

    /// The journal entries of `unit` after `cursor` (all of them when nil), as JSON objects.
    ///
    /// Queried with `--cursor` (inclusive), dropping the cursor's own entry: systemd 252's `--after-cursor`
    /// can drop the first match.
    func journalEntries(unit: String, after cursor: String?) throws -> [[String: Any]] {
        var args = ["journalctl", "-q", "--no-pager", "-o", "json", "-u", unit]
        if let cursor { args.append("--cursor=\(cursor)") }
        let output = try run(args).stdout
        return output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { cursor == nil || $0["__CURSOR"] as? String != cursor }
    }

    /// Waits (polling the journal, never following it) for an entry of `unit` after `cursor` matching
    /// `predicate`; returns it, or nil at the deadline.
    func waitForEntry(
        unit: String, after cursor: String?, timeout: Duration = .seconds(15), _ predicate: ([String: Any]) -> Bool
    ) throws -> [String: Any]? {
        var found: [String: Any]?
        _ = try waitUntil(timeout: timeout, interval: .milliseconds(50)) {
            found = try journalEntries(unit: unit, after: cursor).first(where: predicate)
            return found != nil
        }
        return found
    }

    /// Shuts the container down (`systemctl poweroff`), waits for nspawn to exit, kills it by PID when it
    /// does not, and removes the scratch directory. Idempotent. Returns how long the shutdown took.
    @discardableResult
    func powerOff(timeout: Duration = .seconds(20)) -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard !poweredOff else { return 0 }
        poweredOff = true
        let clock = ContinuousClock()
        let start = clock.now
        if nspawn.isRunning {
            _ = try? Shell.run(
                ["nsenter", "-t", String(leader), "-a", "systemctl", "poweroff", "--no-block"], timeout: .seconds(10),
                check: false)
            if !waitUntil(timeout: timeout, interval: .milliseconds(20), { !nspawn.isRunning }) { Self.kill(nspawn) }
        }
        nspawn.waitUntilExit()
        try? FileManager.default.removeItem(at: scratch)
        return (clock.now - start).timeInterval
    }

    /// SIGTERM to nspawn (it asks the container to power off), SIGKILL after 5 s.
    private static func kill(_ process: Process) {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGTERM)
        if !waitUntil(timeout: .seconds(5), { !process.isRunning }) {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// The child of `pid` that runs systemd (nspawn's child becomes the container's PID 1; before that
    /// exec, it is still nspawn).
    private static func child(of pid: Int32) -> Int32? {
        let path = "/proc/\(pid)/task/\(pid)/children"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(separator: " ").compactMap { Int32($0) }.first { child in
            let comm = try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)
            return comm?.trimmingCharacters(in: .whitespacesAndNewlines) == "systemd"
        }
    }
}

struct ContainerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
