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
/// `environment` is added to dockerd's (`env K=V dockerd ...`), e.g. `DBUS_SYSTEM_BUS_ADDRESS` of a private bus.
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

    static let requiredPrograms: [(path: String, package: String)] = [
        (dockerd, "docker.io"), (client, "docker.io"), ("/usr/bin/containerd", "docker.io"), ("/usr/sbin/runc", "docker.io"),
    ]

    /// What of `docker.io busybox-static` is not installed (scripts/test.sh installs them), for the failure message.
    static var missingPackages: [String] { missingPrograms(requiredPrograms) + missingStaticBusybox() }

    let namespace: NetworkNamespace
    /// The scratch directory holding everything of this engine.
    let directory: String
    /// The cgroup parent of the containers (relative to each hierarchy's root), named like the directory.
    let cgroupParent: String
    /// dockerd's PID.
    private(set) var pid: pid_t = 0
    private let teardown = OneTimeTeardown()

    var socket: String { directory + "/docker.sock" }
    var logPath: String { directory + "/dockerd.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts dockerd in `namespace` with `arguments` added (e.g. `--userland-proxy=false`) and waits until
    /// it answers on its socket.
    init(
        namespace: NetworkNamespace, arguments: [String] = [], environment: [String: String] = [:],
        startTimeout: Duration = .seconds(60)
    ) throws {
        self.namespace = namespace
        let name = "fwt-dk-\(randomSuffix())"
        directory = "/tmp/\(name)"
        cgroupParent = name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try "{}\n".write(toFile: directory + "/daemon.json", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: directory + "/client", withIntermediateDirectories: true)
            try start(arguments: arguments, environment: environment, timeout: startTimeout)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    private func start(arguments: [String], environment: [String: String], timeout: Duration) throws {
        let command =
            ["nsenter", "--net=\(namespace.path)", "--", "unshare", "--mount", "--propagation", "private", "--"]
            + envPrefix(environment)
            + [
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
        let value = try startDetached(command, log: logPath)
        pid = value
        var lastError = ""
        let answered = try waitUntil(timeout: timeout, interval: .milliseconds(200)) {
            guard processIsAlive(value) else { return false }
            let result = try docker(["version", "--format", "{{.Server.Version}}"], timeout: .seconds(10), check: false)
            lastError = result.stderr
            return result.succeeded
        }
        guard answered else {
            throw StackError(
                "dockerd did not answer on \(socket) within \(timeout) (alive: \(processIsAlive(value))): \(lastError)\nlog:\n\(log.suffix(3000))")
        }
        let pidfile = (try? String(contentsOfFile: directory + "/docker.pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard pidfile == String(value) else {
            throw StackError("dockerd's pidfile says \(pidfile ?? "nothing"), the shell started \(value)")
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

    /// Imports the image and starts the one container `web` of a host firewall's tests, publishing `port` to its
    /// port 80; returns its address.
    func startWebContainer(publishing port: Int) throws -> String {
        try importBusyboxImage()
        try runWebContainer(name: "web", publish: "\(port):80")
        return try address(of: "web")
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
            throw StackError("no link index for \(container)'s eth0: \(inside)")
        }
        let hostLinks = try JSONSerialization.jsonObject(with: Data(try namespace.ip(["-j", "link"]).stdout.utf8))
            as? [[String: Any]] ?? []
        guard let name = hostLinks.first(where: { $0["ifindex"] as? Int == index })?["ifname"] as? String else {
            throw StackError("no link \(index) in \(namespace.name)")
        }
        return name
    }

    // MARK: Stopping

    /// Stops everything this engine started and removes its directory and cgroups; safe to call more than once.
    func stop() {
        guard teardown.begin() else { return }
        if processIsAlive(pid) {
            if let ids = try? docker(["ps", "-aq"], timeout: .seconds(20), check: false).stdout
                .split(separator: "\n").map(String.init), !ids.isEmpty
            {
                _ = try? docker(["rm", "-f"] + ids, timeout: .seconds(30), check: false)
            }
            terminate(pid, timeout: .seconds(20))
        }
        killUntilGone { Set(pidsWithCommandLine(containing: directory)).union(cgroupMembers()) }
        removeCgroups()
        _ = try? Shell.run(["rm", "-rf", "--one-file-system", directory], timeout: .seconds(60), check: false)
    }

    /// PIDs in the engine's cgroups (the containers' processes).
    private func cgroupMembers() -> Set<pid_t> {
        var pids = Set<pid_t>()
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

/// A Docker host the way every docker-compose project leaves one, built in two namespaces of the test's:
///
/// - `host`: uplink veth `eth0` 192.0.2.10/24, default route via the client (192.0.2.20); a real dockerd
///   (`DockerEngine`) with the default bridge docker0 holding container `web` (`-p 10001:80`) and a user network
///   `appnet` (bridge `br-<id>`) holding container `api` (`-p 10003:80`), both `busybox httpd`.
/// - `client`: the uplink's other end, `eth0` 192.0.2.20/24.
///
/// IPv6 stays on in the host namespace, as on a real host (docker-proxy also binds `::`). ip_forward starts at 0
/// in a new namespace, so dockerd turns it on itself (and sets the FORWARD policy to DROP), as on a fresh host.
final class RealDockerHost: RealStackHost, @unchecked Sendable {
    static let namespacePrefix = "fwt-dk"
    static let requiredPrograms = DockerEngine.requiredPrograms
    static var missingPackages: [String] { DockerEngine.missingPackages }
    static let aptPackages = "docker.io busybox-static"
    static let webPort = 10001
    static let apiPort = 10003

    let host: NetworkNamespace
    let client: NetworkNamespace
    let engine: DockerEngine
    /// Bridge of the `appnet` network, and the containers' addresses.
    private(set) var appBridge = ""
    private(set) var webAddress = ""
    private(set) var apiAddress = ""

    var startedProcesses: [pid_t] { [engine.pid] }
    var scratchDirectories: [String] { [engine.directory] }

    init(dockerdArguments: [String] = []) throws {
        let (host, client) = try makeUplink(prefix: Self.namespacePrefix, hostIPv6: true)
        self.host = host
        self.client = client
        engine = try deletingOnFailure([host, client]) { try DockerEngine(namespace: host, arguments: dockerdArguments) }
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
}
