import Foundation

/// Debian 12's real podman 4.3 with netavark 1.4, rootful, running inside network namespaces a test made and
/// isolated from the machine:
///
/// - `host` (namespace): uplink veth `eth0` 192.0.2.10/24, default route via the client; podman runs here, so
///   netavark creates `podman0` (10.88.0.0/16) and its iptables rules in this namespace.
/// - `client` (namespace): `eth0` 192.0.2.20/24, no route to the containers' subnet (their outbound traffic
///   only comes back when it is masqueraded).
/// - podman's own state lives in a temporary directory: `--root`, `--runroot`, `--tmpdir`,
///   `--network-config-dir`, and a containers.conf/storage.conf/registries.conf (cgroupfs, `cgroups =
///   "disabled"`, events logger `file`, no systemd).
/// - Every podman command runs in a private mount namespace held open by one `sleep` process (`unshare
///   --mount --propagation private`) in `host`: there a tmpfs covers `/run` (podman's container netns files
///   under `/run/netns`, locks, no `/run/systemd`) and `/dev/shm` (podman's SHM lock table), the temporary
///   configuration is bind-mounted on `/etc/containers`, and the cgroup v2 part of this machine's hybrid
///   hierarchy is unmounted (crun 1.8 refuses hybrid mode even with cgroups disabled). None of this is
///   visible outside that mount namespace.
/// - The image is imported from a tar of busybox-static (`/bin/busybox` and applet links) and `/www/index.html`,
///   so no registry is needed.
///
/// `delete()` (also run on deinit) removes the containers with podman, kills by PID whatever is left that was
/// started from the temporary directory or the holder's mount namespace, kills the holder, deletes the
/// namespaces and the directory.
final class PodmanEngine: @unchecked Sendable {
    static let uplink = "eth0"
    static let bridge = "podman0"
    static let bridgeSubnet = "10.88.0.0/16"
    static let hostAddress = "192.0.2.10"
    static let clientAddress = "192.0.2.20"
    static let image = "localhost/fwt-busybox:latest"
    /// What the web server in the container serves as `/`.
    static let page = "hello from a real podman container"

    /// The executables this needs, with the Debian package that ships each.
    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/bin/podman", "podman"), ("/usr/lib/podman/netavark", "netavark"), ("/usr/bin/crun", "crun"),
        ("/usr/bin/conmon", "conmon"), ("/bin/busybox", "busybox-static"), ("/usr/bin/nsenter", "util-linux"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    /// The programs that are missing ("podman (/usr/bin/podman)"), empty when all are there. busybox must be
    /// the static build: the image has no libc.
    static func missingPrograms() -> [String] {
        var missing = requiredPrograms.filter { !FileManager.default.isExecutableFile(atPath: $0.path) }
            .map { "\($0.package) (\($0.path))" }
        if FileManager.default.isExecutableFile(atPath: "/bin/busybox"),
            let file = try? Shell.run(["dpkg", "-S", "/bin/busybox"], check: false), !file.stdout.contains("busybox-static")
        {
            missing.append("busybox-static (/bin/busybox is not the static build)")
        }
        return missing
    }

    let host: NetworkNamespace
    let client: NetworkNamespace
    /// The temporary directory holding all of podman's state and configuration.
    let directory: String
    /// The `sleep` process holding the private mount namespace.
    private let holder = Process()
    private var containerPids: [Int32] = []
    private let lock = NSLock()
    private var deleted = false

    init() throws {
        let missing = Self.missingPrograms()
        guard missing.isEmpty else { throw PodmanError.missingPackages(missing) }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-podman-\(randomSuffix())").path
        host = try NetworkNamespace(prefix: "fwt-pdm-host")
        do {
            client = try NetworkNamespace(prefix: "fwt-pdm-client")
        } catch {
            host.delete()
            throw error
        }
        do {
            try buildNetwork()
            try writeConfiguration()
            try startHolder()
            try podman(["import", "\(directory)/rootfs.tar", Self.image], timeout: .seconds(60))
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    // MARK: Podman

    /// The global options that keep podman inside the temporary directory.
    private var globalOptions: [String] {
        [
            "--root", "\(directory)/root", "--runroot", "\(directory)/runroot", "--tmpdir", "\(directory)/tmp",
            "--network-config-dir", "\(directory)/networks", "--cgroup-manager", "cgroupfs", "--events-backend",
            "file", "--storage-driver", "vfs",
        ]
    }

    /// Runs `podman <global options> args` in the host namespace and the private mount namespace.
    @discardableResult
    func podman(_ args: [String], timeout: Duration = .seconds(60), check: Bool = true) throws -> ShellResult {
        var environment = ProcessInfo.processInfo.environment
        environment["CONTAINERS_CONF"] = "\(directory)/etc/containers.conf"
        environment["CONTAINERS_STORAGE_CONF"] = "\(directory)/etc/storage.conf"
        environment["CONTAINERS_REGISTRIES_CONF"] = "\(directory)/etc/registries.conf"
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "XDG_RUNTIME_DIR"] {
            environment.removeValue(forKey: key)
        }
        return try Shell.run(
            inside + ["/usr/bin/podman"] + globalOptions + args, timeout: timeout, check: check, environment: environment)
    }

    /// The launcher that enters the holder's mount namespace and the host network namespace.
    private var inside: [String] { ["nsenter", "-t", "\(holder.processIdentifier)", "-m", "-n", "--"] }

    /// Starts `busybox httpd` in a container named `name`, publishing `hostPort` to its port 80, and waits
    /// until podman says it runs. Returns the container's address on podman0.
    @discardableResult
    func runWebContainer(name: String = "web", hostPort: Int = 10002) throws -> String {
        try podman(
            [
                "run", "-d", "--name", name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "-p",
                "\(hostPort):80", Self.image, "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www",
            ], timeout: .seconds(60))
        let pid = try inspect(name, "{{.State.Pid}}")
        if let number = Int32(pid), number > 0 {
            lock.withLock { containerPids.append(number) }
        }
        return try inspect(name, "{{.NetworkSettings.IPAddress}}")
    }

    /// `podman inspect -f FORMAT name`, trimmed.
    func inspect(_ name: String, _ format: String) throws -> String {
        try podman(["inspect", "-f", format, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The PID of the container's first process (to enter its network namespace).
    func containerPid(_ name: String = "web") throws -> Int32 {
        guard let pid = Int32(try inspect(name, "{{.State.Pid}}")), pid > 0 else {
            throw PodmanError.notRunning(name)
        }
        return pid
    }

    /// Runs `args` (a host program such as curl) in the network namespace of container `name`.
    @discardableResult
    func execInContainerNetwork(_ name: String = "web", _ args: [String], timeout: Duration = .seconds(30))
        throws -> ShellResult
    {
        try Shell.run(["nsenter", "-t", "\(try containerPid(name))", "-n", "--"] + args, timeout: timeout, check: false)
    }

    /// The host namespace's rules as `iptables-save` prints them.
    func iptablesSave() throws -> String { try host.exec(["iptables-save"]).stdout }

    // MARK: Traffic

    /// The HTTP status the client gets from `http://192.0.2.10:<port>/` ("000" when it cannot connect).
    func clientStatus(port: Int = 10002) throws -> String {
        try client.exec(
            [
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                "http://\(Self.hostAddress):\(port)/",
            ], check: false
        ).stdout
    }

    func clientReaches(port: Int = 10002) throws -> Bool { try clientStatus(port: port) == "200" }

    /// Whether the container `name` gets a 200 from a server on the client (`http://192.0.2.20:<port>/`).
    func containerReachesClient(_ name: String = "web", port: Int) throws -> Bool {
        try execInContainerNetwork(
            name,
            [
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                "http://\(Self.clientAddress):\(port)/",
            ]
        ).stdout == "200"
    }

    // MARK: Building

    private func buildNetwork() throws {
        try host.addVethPair(Self.uplink, "eth0", peerNamespace: client)
        try host.addAddress("\(Self.hostAddress)/24", to: Self.uplink)
        try client.addAddress("\(Self.clientAddress)/24", to: "eth0")
        try host.ip(["route", "add", "default", "via", Self.clientAddress, "dev", Self.uplink])
    }

    private func writeConfiguration() throws {
        let manager = FileManager.default
        for sub in ["root", "runroot", "tmp", "networks", "etc", "rootfs/bin", "rootfs/www", "rootfs/tmp"] {
            try manager.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        let containersConf = """
            # fwdwatch test: rootful podman isolated in a temporary directory, no systemd.
            [containers]
            cgroups = "disabled"
            default_sysctls = []

            [network]
            network_backend = "netavark"
            network_config_dir = "\(directory)/networks"

            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            events_logfile_path = "\(directory)/tmp/events.log"
            tmp_dir = "\(directory)/tmp"
            runtime = "crun"
            volume_path = "\(directory)/root/volumes"
            static_dir = "\(directory)/root/libpod"

            """
        try containersConf.write(toFile: "\(directory)/etc/containers.conf", atomically: true, encoding: .utf8)
        let storageConf = """
            [storage]
            driver = "vfs"
            runroot = "\(directory)/runroot"
            graphroot = "\(directory)/root"

            """
        try storageConf.write(toFile: "\(directory)/etc/storage.conf", atomically: true, encoding: .utf8)
        try "unqualified-search-registries = []\n".write(
            toFile: "\(directory)/etc/registries.conf", atomically: true, encoding: .utf8)
        try #"{ "default": [ { "type": "insecureAcceptAnything" } ] }"#.write(
            toFile: "\(directory)/etc/policy.json", atomically: true, encoding: .utf8)

        // The image: busybox-static and its applets, a page to serve.
        try manager.copyItem(atPath: "/bin/busybox", toPath: "\(directory)/rootfs/bin/busybox")
        for applet in ["sh", "httpd", "wget", "nc", "cat", "ls", "sleep", "ip", "ifconfig"] {
            try manager.createSymbolicLink(atPath: "\(directory)/rootfs/bin/\(applet)", withDestinationPath: "busybox")
        }
        try (Self.page + "\n").write(toFile: "\(directory)/rootfs/www/index.html", atomically: true, encoding: .utf8)
        try Shell.run(["tar", "-C", "\(directory)/rootfs", "-cf", "\(directory)/rootfs.tar", "."])
    }

    /// Starts the holder of the private mount namespace in `host` and prepares its mounts.
    private func startHolder() throws {
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        holder.arguments = [
            "--net=\(host.path)", "--", "unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity",
        ]
        holder.standardInput = FileHandle.nullDevice
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        let pid = holder.processIdentifier
        let ours = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")) ?? ""
        let unshared = waitUntil(timeout: .seconds(10), interval: .milliseconds(10)) {
            guard let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt"),
                let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
            else { return false }
            return theirs != ours && command.hasPrefix("sleep")
        }
        guard unshared else { throw PodmanError.holderDidNotStart }
        var script = """
            set -e
            mount -t tmpfs -o mode=755 fwt-podman-run /run
            mkdir -p /run/netns /run/lock
            mount -t tmpfs -o mode=1777 fwt-podman-shm /dev/shm
            mount --bind \(directory)/etc /etc/containers

            """
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified") {
            script += "umount /sys/fs/cgroup/unified\n"
        }
        try Shell.run(["nsenter", "-t", "\(pid)", "-m", "--", "sh", "-c", script])
    }

    // MARK: Cleaning up

    /// Removes the containers, stops every process started for them (by PID), the holder, the namespaces and
    /// the directory. Safe to call more than once.
    func delete() {
        lock.lock()
        guard !deleted else {
            lock.unlock()
            return
        }
        deleted = true
        let started = containerPids
        lock.unlock()

        if holder.isRunning {
            _ = try? podman(["rm", "--all", "--force", "--time", "0"], timeout: .seconds(30), check: false)
        }
        // conmon, `podman container cleanup` and anything else still running from the temporary directory, or
        // inside the holder's mount namespace (its descendants), and the containers' first processes.
        var leftovers = Set(started.filter { kill($0, 0) == 0 })
        let holderNamespace = holder.isRunning
            ? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.processIdentifier)/ns/mnt"))
            : nil
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != holder.processIdentifier, pid != getpid() else { continue }
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
                .map { String(decoding: $0, as: UTF8.self) } ?? ""
            let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
            if commandLine.contains(directory) || (holderNamespace != nil && namespace == holderNamespace) {
                leftovers.insert(pid)
            }
        }
        for pid in leftovers { kill(pid, SIGKILL) }
        if holder.isRunning {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        host.delete()
        client.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum PodmanError: Error, CustomStringConvertible {
    case missingPackages([String])
    case holderDidNotStart
    case notRunning(String)

    var description: String {
        switch self {
        case .missingPackages(let missing):
            "missing: \(missing.joined(separator: ", ")); install them with "
                + "`apt-get install -y --no-install-recommends podman netavark busybox-static` (scripts/test.sh does)"
        case .holderDidNotStart: "the mount namespace holder (nsenter ... unshare --mount sleep) did not start"
        case .notRunning(let name): "container \(name) is not running"
        }
    }
}
