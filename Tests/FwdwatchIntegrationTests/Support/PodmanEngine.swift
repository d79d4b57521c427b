import Foundation
import Synchronization

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
/// - Every podman command runs in a private mount namespace (`MountNamespaceHolder`, entered with `nsenter
///   --net` to keep the machine's /sys and its cgroup mounts) in `host`: there a tmpfs covers `/run` (podman's container netns files
///   under `/run/netns`, locks, no `/run/systemd`) and `/dev/shm` (podman's SHM lock table), the temporary
///   configuration is bind-mounted on `/etc/containers`, and the cgroup v2 part of this machine's hybrid
///   hierarchy is unmounted (crun 1.8 refuses hybrid mode even with cgroups disabled). None of this is
///   visible outside that mount namespace.
/// - The image is imported from a tar of busybox-static (`/bin/busybox` and applet links) and `/www/index.html`,
///   so no registry is needed.
///
/// `delete()` (also run on deinit) removes the containers with podman, kills by PID whatever is left that was
/// started from the temporary directory (and the containers' first processes), then whatever runs in the holder's
/// mount namespace and the holder, deletes the namespaces and the directory.
final class PodmanEngine: IsolatedStackHost, SinglePortStackHost, @unchecked Sendable {
    static let namespacePrefix = "fwt-pdm"
    static let port = 10002
    static let bridge = "podman0"
    static let bridgeSubnet = "10.88.0.0/16"
    static let image = "localhost/fwt-busybox:latest"
    /// What the web server in the container serves as `/`.
    static let page = "hello from a real podman container"
    static let clientPatience = 2

    /// The executables this needs, with the Debian package that ships each.
    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/bin/podman", "podman"), ("/usr/lib/podman/netavark", "netavark"), ("/usr/bin/crun", "crun"),
        ("/usr/bin/conmon", "conmon"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/unshare", "util-linux"),
        ("/usr/bin/curl", "curl"),
    ]

    /// The programs that are missing ("podman (/usr/bin/podman)"), empty when all are there. busybox must be
    /// the static build: the image has no libc.
    static var missingPackages: [String] { missingPrograms(requiredPrograms) + missingStaticBusybox() }
    static let aptPackages = "podman netavark busybox-static"

    private let containerPids = Mutex<[Int32]>([])

    override var startedProcesses: [pid_t] { super.startedProcesses + containerPids.withLock { $0 } }

    init() throws {
        try Self.throwUnlessInstalled()
        // The scratch directory holds all of podman's state and configuration.
        try super.init(
            prefix: Self.namespacePrefix,
            directory: FileManager.default.temporaryDirectory.appendingPathComponent("fwt-podman-\(randomSuffix())").path,
            holderEntry: .nsenterKeepingSys)
        try building {
            try writeConfiguration()
            try mountConfiguration()
            try podman(["import", "\(directory)/rootfs.tar", Self.image], timeout: .seconds(60))
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
        try holder.inside(
            ["/usr/bin/podman"] + globalOptions + args,
            environment: [
                "CONTAINERS_CONF": "\(directory)/etc/containers.conf",
                "CONTAINERS_STORAGE_CONF": "\(directory)/etc/storage.conf",
                "CONTAINERS_REGISTRIES_CONF": "\(directory)/etc/registries.conf",
            ],
            unsetting: ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "XDG_RUNTIME_DIR"],
            timeout: timeout, check: check)
    }

    /// Starts `busybox httpd` in a container named `name`, publishing `hostPort` to its port 80, and waits
    /// until podman says it runs. Returns the container's address on podman0.
    @discardableResult
    func runWebContainer(name: String = "web", hostPort: Int = PodmanEngine.port) throws -> String {
        try podman(
            [
                "run", "-d", "--name", name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "-p",
                "\(hostPort):80", Self.image, "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www",
            ], timeout: .seconds(60))
        let pid = try inspect(name, "{{.State.Pid}}")
        if let number = Int32(pid), number > 0 {
            containerPids.withLock { $0.append(number) }
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
            throw StackError("container \(name) is not running")
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

    /// Whether the container `name` gets a 200 from a server on the client (`http://192.0.2.20:<port>/`).
    func containerReachesClient(_ name: String = "web", port: Int) throws -> Bool {
        try execInContainerNetwork(
            name, curlStatusCommand("http://\(Self.clientAddress):\(port)/", seconds: Self.clientPatience)
        ).stdout == "200"
    }

    // MARK: Building

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

    /// Prepares the holder's mounts.
    private func mountConfiguration() throws {
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
        try holder.script(script)
    }

    // MARK: Cleaning up

    /// Removes the containers and stops every process started for them (by PID).
    override func stopStack() {
        if holder.isRunning {
            _ = try? podman(["rm", "--all", "--force", "--time", "0"], timeout: .seconds(30), check: false)
        }
        // conmon, `podman container cleanup` and anything else still running from the temporary directory, and
        // the containers' first processes; what runs in the holder's mount namespace goes with the holder.
        let started = containerPids.withLock { $0 }
        killUntilGone { Set(started).union(pidsWithCommandLine(containing: directory)) }
    }
}
