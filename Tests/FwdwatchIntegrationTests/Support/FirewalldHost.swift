import Foundation

/// Debian 12's real firewalld 1.3 (nftables backend) with Debian's real Docker 20.10 on top, in namespaces a
/// test made:
///
/// - `host`: uplink `eth0` 192.0.2.10/24 (IPv6 on), default route via the client. A `MountNamespaceHolder`
///   gives it a private mount namespace where a scratch copy of `/etc/firewalld` (FirewallBackend=nftables)
///   covers the machine's and a tmpfs covers `/run` (firewalld's /run/firewalld). In there run a private
///   system bus (`dbus-daemon --config-file=<scratch>/bus.conf --nofork`, listening on a socket in the scratch
///   directory, every method allowed to root, no service activation: no polkit, so firewalld authorizes by
///   uid 0) and `firewalld --nofork --nopid --log-target console` on that bus. eth0 is bound to zone public (permanently).
/// - A real dockerd (`DockerEngine`) in `host`, started with `DBUS_SYSTEM_BUS_ADDRESS` pointing at the private
///   bus: it finds firewalld there, puts docker0 in zone `docker` and passes its iptables rules through
///   firewalld, as on a firewalld host. One container `web` (`-p 10001:80`): the recorded fixture
///   `firewalld-1.3-docker-20.10`.
/// - `client`: `eth0` 192.0.2.20/24.
///
/// `delete()` (also on deinit) stops the engine (its rules go through firewalld, so firewalld still runs), then
/// firewalld (SIGTERM: CleanupOnExit removes its tables), the bus and the holder by PID, and deletes the
/// namespaces and the scratch directory.
final class FirewalldHost: FirewalledDockerHost, SinglePortStackHost, @unchecked Sendable {
    static let namespacePrefix = "fwt-fwd"

    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/sbin/firewalld", "firewalld"), ("/usr/bin/firewall-cmd", "firewalld"),
        ("/usr/bin/dbus-daemon", "dbus"), ("/usr/sbin/nft", "nftables"), ("/usr/sbin/iptables", "iptables"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static var missingPackages: [String] { missingPrograms(requiredPrograms) + DockerEngine.missingPackages }
    static let aptPackages = "firewalld dbus docker.io busybox-static"

    private(set) var busPID: pid_t = 0
    private(set) var firewalldPID: pid_t = 0

    var busAddress: String { "unix:path=\(directory)/system_bus_socket" }
    var firewalldLog: String { (try? String(contentsOfFile: directory + "/firewalld.log", encoding: .utf8)) ?? "" }
    override var startedProcesses: [pid_t] { super.startedProcesses + [busPID, firewalldPID] }

    init() throws {
        try Self.throwUnlessInstalled()
        try super.init(prefix: Self.namespacePrefix, directory: "/tmp/fwt-firewalld-\(randomSuffix())", hostIPv6: true)
        try building(start)
    }

    deinit { delete() }

    private func start() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Shell.run(["cp", "-a", "/etc/firewalld", directory + "/etc-firewalld"])
        let confPath = directory + "/etc-firewalld/firewalld.conf"
        var conf = try String(contentsOfFile: confPath, encoding: .utf8)
        conf = conf.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("FirewallBackend=") ? "FirewallBackend=nftables" : String($0) }.joined(separator: "\n")
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        try """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>system</type>
          <listen>\(busAddress)</listen>
          <auth>EXTERNAL</auth>
          <policy context="default">
            <allow user="root"/>
            <allow own="*"/>
            <allow send_destination="*" eavesdrop="true"/>
            <allow receive_sender="*"/>
            <allow eavesdrop="true"/>
          </policy>
        </busconfig>

        """.write(toFile: directory + "/bus.conf", atomically: true, encoding: .utf8)
        try holder.bind(directory + "/etc-firewalld", over: "/etc/firewalld")
        try holder.tmpfs(over: "/run")

        busPID = try holder.startInBackground(
            ["dbus-daemon", "--config-file=\(directory)/bus.conf", "--nofork", "--nopidfile"], log: directory + "/dbus.log")
        guard waitUntil(timeout: .seconds(10), interval: .milliseconds(20), {
            FileManager.default.fileExists(atPath: directory + "/system_bus_socket")
        }) else { throw StackError("dbus-daemon did not listen: \(logTail(directory + "/dbus.log"))") }

        firewalldPID = try holder.startInBackground(
            ["/usr/sbin/firewalld", "--nofork", "--nopid", "--log-target", "console"],
            environment: ["DBUS_SYSTEM_BUS_ADDRESS": busAddress], log: directory + "/firewalld.log")
        var state = ""
        let running = try waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
            guard processIsAlive(firewalldPID) else { return false }
            state = try firewallCmd(["--state"], check: false).stdout
            return state.hasPrefix("running")
        }
        guard running else {
            throw StackError("firewalld is not running (alive: \(processIsAlive(firewalldPID)), state: \(state)):\n\(logTail(directory + "/firewalld.log"))")
        }
        // Permanent and runtime, as NetworkManager or an ifcfg ZONE= would have it: Docker reloads firewalld when
        // it creates its zone, and a reload forgets runtime-only bindings.
        try firewallCmd(["--permanent", "--zone=public", "--add-interface=eth0"])
        try firewallCmd(["--zone=public", "--change-interface=eth0"])

        try startDocker(environment: ["DBUS_SYSTEM_BUS_ADDRESS": busAddress])
    }

    /// firewall-cmd on the private bus.
    @discardableResult
    func firewallCmd(_ args: [String], check: Bool = true) throws -> ShellResult {
        try holder.inside(["firewall-cmd"] + args, environment: ["DBUS_SYSTEM_BUS_ADDRESS": busAddress], check: check)
    }

    /// A shell command line (a fix) in the holder's namespaces with the private bus.
    @discardableResult
    func shell(_ command: String) throws -> ShellResult {
        try holder.inside(["sh", "-c", command], environment: ["DBUS_SYSTEM_BUS_ADDRESS": busAddress], check: false)
    }

    /// The engine first (its rules go through firewalld), then firewalld and the bus.
    override func stopStack() {
        super.stopStack()
        terminate(firewalldPID, timeout: .seconds(15))
        terminate(busPID)
    }
}
