import Foundation

/// A real Docker engine (Debian 12's docker.io 20.10 `dockerd`) started by a test inside a network namespace
/// of its own, fully apart from the machine's own Docker:
///
/// - its own `--data-root`, `--exec-root`, `--pidfile`, socket, `--config-file` (an empty `{}`) and
///   `--cgroup-parent`, all under one scratch directory `/tmp/fwt-dk-<random>` (the cgroup parent is named
///   the same); no `--containerd`, so dockerd starts a containerd of its own with state under the exec root;
/// - storage driver `vfs` (the image is a 2 MB busybox: copying it per container costs nothing, and vfs makes
///   no mounts);
/// - `--iptables=true`: it writes its rules with the namespace's `iptables` (iptables-nft) as on any host.
///
/// It runs as `nsenter --net=/run/netns/NS -- unshare --mount --propagation private -- dockerd ...`: the network
/// namespace is the test's host, and a private mount namespace keeps every mount dockerd and containerd make
/// (container netns files, /dev/shm of each container) out of the machine's. `ip netns exec` is not used: it
/// remounts /sys and hides the cgroup mounts dockerd needs. Each command in the chain execs the next, so the
/// PID the shell reports is dockerd's own (checked against its pidfile).
///
/// `stop()` (also on deinit) removes every container (SIGKILL, so no stop timeout), stops dockerd by PID
/// (SIGTERM, then SIGKILL), kills by PID whatever of ours survived (a shim or a container process, found by
/// the scratch directory in its command line or in the engine's cgroups), removes the cgroups and the directory.
final class DockerEngine: @unchecked Sendable {
    static let dockerd = "/usr/sbin/dockerd"
    /// Debian's client, not a newer one that may sit earlier on PATH (/usr/local/bin).
    static let client = "/usr/bin/docker"
    /// The image every container runs: busybox-static alone, made without the internet by `importBusyboxImage`.
    static let image = "fwdwatch-busybox"

    /// Whether Debian's docker.io and busybox-static are installed (scripts/test.sh installs them).
    static var isInstalled: Bool { missingPackages.isEmpty }

    /// The packages of `docker.io busybox-static` that are not installed, for the failure message.
    static var missingPackages: [String] {
        var missing: [String] = []
        for executable in [dockerd, client, "/usr/bin/containerd", "/usr/sbin/runc"]
        where !FileManager.default.isExecutableFile(atPath: executable) {
            missing.append("docker.io (\(executable))")
        }
        let busybox = try? Shell.run(
            ["dpkg-query", "-W", "-f", "${Status}", "busybox-static"], timeout: .seconds(10), check: false)
        if busybox?.stdout.contains("install ok installed") != true { missing.append("busybox-static") }
        return missing
    }

    let namespace: NetworkNamespace
    /// The scratch directory holding everything of this engine.
    let directory: String
    /// The cgroup parent of the containers (relative to each hierarchy's root), named like the directory.
    let cgroupParent: String
    /// dockerd's PID.
    private(set) var pid: pid_t = 0
    private let lock = NSLock()
    private var stopped = false

    var socket: String { directory + "/docker.sock" }
    var logPath: String { directory + "/dockerd.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts dockerd in `namespace` with `arguments` added (e.g. `--userland-proxy=false`) and waits until
    /// it answers on its socket.
    init(namespace: NetworkNamespace, arguments: [String] = [], startTimeout: Duration = .seconds(60)) throws {
        self.namespace = namespace
        let name = "fwt-dk-\(randomSuffix())"
        directory = "/tmp/\(name)"
        cgroupParent = name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try "{}\n".write(toFile: directory + "/daemon.json", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: directory + "/client", withIntermediateDirectories: true)
            try start(arguments: arguments, timeout: startTimeout)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    private func start(arguments: [String], timeout: Duration) throws {
        let command =
            [
                "nsenter", "--net=\(namespace.path)", "--", "unshare", "--mount", "--propagation", "private", "--",
                Self.dockerd,
                "--config-file", directory + "/daemon.json",
                "--data-root", directory + "/data",
                "--exec-root", directory + "/run",
                "--pidfile", directory + "/docker.pid",
                "-H", "unix://" + socket,
                "--iptables=true",
                "--storage-driver", "vfs",
                "--cgroup-parent", "/" + cgroupParent,
                "--log-level", "warn",
            ] + arguments
        let script = "exec " + command.map(shellQuoted).joined(separator: " ") + " >\(shellQuoted(logPath)) 2>&1 </dev/null"
        // `&` in a shell started by Shell (posix_spawn with an empty signal mask): dockerd must not inherit the
        // blocked signals of a dispatch worker thread, or SIGTERM would not stop it.
        let started = try Shell.run(["sh", "-c", "(\(script)) & echo $!"], timeout: .seconds(10))
        guard let value = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0 else {
            throw DockerEngineError("could not start dockerd: \(started.stdout) \(started.stderr)")
        }
        pid = value
        var lastError = ""
        let answered = try waitUntil(timeout: timeout, interval: .milliseconds(200)) {
            guard isAlive(value) else { return false }
            let result = try docker(["version", "--format", "{{.Server.Version}}"], timeout: .seconds(10), check: false)
            lastError = result.stderr
            return result.succeeded
        }
        guard answered else {
            throw DockerEngineError(
                "dockerd did not answer on \(socket) within \(timeout) (alive: \(isAlive(value))): \(lastError)\nlog:\n\(log.suffix(3000))")
        }
        let pidfile = (try? String(contentsOfFile: directory + "/docker.pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard pidfile == String(value) else {
            throw DockerEngineError("dockerd's pidfile says \(pidfile ?? "nothing"), the shell started \(value)")
        }
    }

    /// Runs the Docker client against this engine only (its socket, a client config directory of its own).
    @discardableResult
    func docker(_ args: [String], timeout: Duration = .seconds(60), check: Bool = true) throws -> ShellResult {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_CONFIG"] = directory + "/client"
        environment.removeValue(forKey: "DOCKER_HOST")
        environment.removeValue(forKey: "DOCKER_CONTEXT")
        return try Shell.run(
            [Self.client, "-H", "unix://" + socket] + args, timeout: timeout, check: check, environment: environment)
    }

    // MARK: The image

    /// Builds the image `fwdwatch-busybox` without the internet: a rootfs with /bin/busybox from busybox-static,
    /// a link in /bin for each of its applets and /www/index.html, tarred and `docker import`ed.
    func importBusyboxImage() throws {
        let root = directory + "/rootfs"
        let files = FileManager.default
        try files.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try files.createDirectory(atPath: root + "/www", withIntermediateDirectories: true)
        try files.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        try files.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        let applets = try Shell.run([root + "/bin/busybox", "--list"]).stdout
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty && $0 != "busybox" }
        for applet in applets where !applet.contains("/") {
            try files.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "fwdwatch real docker\n".write(toFile: root + "/www/index.html", atomically: true, encoding: .utf8)
        let tarball = directory + "/rootfs.tar"
        try Shell.run(["tar", "-C", root, "-cf", tarball, "."])
        try docker(["import", tarball, Self.image])
        try? files.removeItem(atPath: tarball)
    }

    /// Starts a container running `busybox httpd -f -p 80 -h /www`, publishing `publish` ("10001:80"), on
    /// `network` (the default bridge when nil).
    func runWebContainer(name: String, network: String? = nil, publish: String) throws {
        var args = ["run", "-d", "--name", name, "-p", publish]
        if let network { args += ["--network", network] }
        try docker(args + [Self.image, "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
    }

    /// The container's address on its (only) network.
    func address(of container: String) throws -> String {
        try docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The Linux bridge of a user-defined network: `br-` and the first 12 digits of the network's ID.
    func bridge(of network: String) throws -> String {
        let id = try docker(["network", "inspect", "-f", "{{.Id}}", network]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return "br-" + id.prefix(12)
    }

    /// The host end of the container's eth0: the link index the container's eth0 points to, looked up among
    /// the links of the engine's namespace.
    func hostVeth(of container: String) throws -> String {
        let containerPID = try docker(["inspect", "-f", "{{.State.Pid}}", container]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let inside = try Shell.run(["nsenter", "-t", containerPID, "-n", "ip", "-j", "link", "show", "eth0"]).stdout
        let links = try JSONSerialization.jsonObject(with: Data(inside.utf8)) as? [[String: Any]]
        guard let index = links?.first?["link_index"] as? Int else {
            throw DockerEngineError("no link index for \(container)'s eth0: \(inside)")
        }
        let hostLinks = try JSONSerialization.jsonObject(with: Data(try namespace.ip(["-j", "link"]).stdout.utf8))
            as? [[String: Any]] ?? []
        guard let name = hostLinks.first(where: { $0["ifindex"] as? Int == index })?["ifname"] as? String else {
            throw DockerEngineError("no link \(index) in \(namespace.name)")
        }
        return name
    }

    // MARK: Stopping

    /// Stops everything this engine started and removes its directory and cgroups; safe to call more than once.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        if pid > 0 && isAlive(pid) {
            if let ids = try? docker(["ps", "-aq"], timeout: .seconds(20), check: false).stdout
                .split(separator: "\n").map(String.init), !ids.isEmpty
            {
                _ = try? docker(["rm", "-f"] + ids, timeout: .seconds(30), check: false)
            }
            kill(pid, SIGTERM)
            if !waitUntil(timeout: .seconds(20), interval: .milliseconds(50), { !isAlive(pid) }) {
                kill(pid, SIGKILL)
                _ = waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) { !isAlive(pid) }
            }
        }
        killLeftovers()
        removeCgroups()
        _ = try? Shell.run(["rm", "-rf", "--one-file-system", directory], timeout: .seconds(60), check: false)
    }

    /// Whether `pid` still runs (not gone, not a zombie).
    private func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// PIDs of processes this engine started that outlived it: a command line naming the scratch directory
    /// (containerd, a shim: `-address /tmp/fwt-dk-.../run/containerd/containerd.sock`) or membership of the
    /// engine's cgroups (the containers' processes).
    private func leftoverPIDs() -> Set<pid_t> {
        var pids = Set<pid_t>()
        let own = getpid()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let value = pid_t(entry), value != own,
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            if String(decoding: data, as: UTF8.self).contains(directory) { pids.insert(value) }
        }
        for hierarchy in ["pids", "memory", "freezer", "unified"] {
            let root = "/sys/fs/cgroup/\(hierarchy)/\(cgroupParent)"
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            var files = ["cgroup.procs"]
            while let relative = walker.nextObject() as? String {
                if relative.hasSuffix("/cgroup.procs") { files.append(relative) }
            }
            for file in files {
                let text = (try? String(contentsOfFile: root + "/" + file, encoding: .utf8)) ?? ""
                for line in text.split(separator: "\n") { if let value = pid_t(line) { pids.insert(value) } }
            }
        }
        return pids
    }

    private func killLeftovers() {
        for _ in 0..<3 {
            let pids = leftoverPIDs()
            if pids.isEmpty { return }
            for value in pids { kill(value, SIGKILL) }
            _ = waitUntil(timeout: .seconds(5), interval: .milliseconds(50)) { pids.allSatisfy { !isAlive($0) } }
        }
    }

    /// Removes the engine's cgroup directories, deepest first, in every hierarchy that has one.
    private func removeCgroups() {
        let hierarchies = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []
        for hierarchy in hierarchies {
            let root = "/sys/fs/cgroup/\(hierarchy)/\(cgroupParent)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue
            else { continue }
            var directories: [String] = []
            if let walker = FileManager.default.enumerator(atPath: root) {
                while let relative = walker.nextObject() as? String {
                    var childIsDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &childIsDirectory),
                        childIsDirectory.boolValue
                    {
                        directories.append(root + "/" + relative)
                    }
                }
            }
            for path in directories.sorted(by: { $0.count > $1.count }) + [root] { rmdir(path) }
        }
    }
}

/// Something the Docker engine of a test could not do.
struct DockerEngineError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `value` quoted for sh.
private func shellQuoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A Docker host the way every docker-compose project leaves one, built in two namespaces of the test's:
///
/// - `host`: uplink veth `eth0` 192.0.2.10/24, default route via the client (192.0.2.20); a real dockerd
///   (`DockerEngine`) with the default bridge docker0 holding container `web` (`-p 10001:80`) and a user network
///   `appnet` (bridge `br-<id>`) holding container `api` (`-p 10003:80`), both `busybox httpd`.
/// - `client`: the uplink's other end, `eth0` 192.0.2.20/24.
///
/// IPv6 stays on in the host namespace, as on a real host (docker-proxy also binds `::`). ip_forward starts at 0
/// in a new namespace, so dockerd turns it on itself (and sets the FORWARD policy to DROP), as on a fresh host.
final class RealDockerHost: @unchecked Sendable {
    static let hostAddress = "192.0.2.10"
    static let clientAddress = "192.0.2.20"
    static let webPort = 10001
    static let apiPort = 10003

    let host: NetworkNamespace
    let client: NetworkNamespace
    let engine: DockerEngine
    /// Bridge of the `appnet` network, and the containers' addresses.
    private(set) var appBridge = ""
    private(set) var webAddress = ""
    private(set) var apiAddress = ""

    init(dockerdArguments: [String] = []) throws {
        host = try NetworkNamespace(prefix: "fwt-dk-host", disableIPv6: false)
        do {
            client = try NetworkNamespace(prefix: "fwt-dk-client")
        } catch {
            host.delete()
            throw error
        }
        do {
            try host.addVethPair("eth0", "eth0", peerNamespace: client)
            try host.addAddress("\(Self.hostAddress)/24", to: "eth0")
            try client.addAddress("\(Self.clientAddress)/24", to: "eth0")
            try host.ip(["route", "add", "default", "via", Self.clientAddress, "dev", "eth0"])
        } catch {
            host.delete()
            client.delete()
            throw error
        }
        do {
            engine = try DockerEngine(namespace: host, arguments: dockerdArguments)
        } catch {
            host.delete()
            client.delete()
            throw error
        }
        do {
            try engine.importBusyboxImage()
            try engine.runWebContainer(name: "web", publish: "\(Self.webPort):80")
            try engine.docker(["network", "create", "appnet"])
            try engine.runWebContainer(name: "api", network: "appnet", publish: "\(Self.apiPort):80")
            appBridge = try engine.bridge(of: "appnet")
            webAddress = try engine.address(of: "web")
            apiAddress = try engine.address(of: "api")
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    /// Stops the engine, then deletes both namespaces.
    func delete() {
        engine.stop()
        host.delete()
        client.delete()
    }

    /// The HTTP status the client gets from 192.0.2.10:`port` ("000" when nothing answered within a second),
    /// optionally from another of its addresses.
    func clientStatus(port: Int, from source: String? = nil) throws -> String {
        var command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1"]
        if let source { command += ["--interface", source] }
        return try client.exec(command + ["http://\(Self.hostAddress):\(port)/"], check: false).stdout
    }

    func clientReaches(port: Int, from source: String? = nil) throws -> Bool {
        try clientStatus(port: port, from: source) == "200"
    }

    /// Waits up to `timeout` for the client to get a 200 from `port`.
    func waitUntilClientReaches(port: Int, from source: String? = nil, timeout: Duration = .seconds(15)) throws -> Bool {
        try waitUntil(timeout: timeout, interval: .milliseconds(100)) { try clientReaches(port: port, from: source) }
    }
}
