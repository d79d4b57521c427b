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
/// `DockerEngine` takes no environment, so the variable is set in the test process only while dockerd starts
/// (`setenv`/`unsetenv` under a lock); every other program here gets it explicitly.
///
/// `delete()` (also on deinit) stops the engine (its rules go through firewalld, so firewalld still runs), then
/// firewalld (SIGTERM: CleanupOnExit removes its tables), the bus and the holder by PID, and deletes the
/// namespaces and the scratch directory.
final class FirewalldHost: @unchecked Sendable {
    static let port = 10001
    static let subject = "10001/tcp"
    static let hostAddress = "192.0.2.10"

    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/sbin/firewalld", "firewalld"), ("/usr/bin/firewall-cmd", "firewalld"),
        ("/usr/bin/dbus-daemon", "dbus"), ("/usr/sbin/nft", "nftables"), ("/usr/sbin/iptables", "iptables"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static var missingPackages: [String] { missingStackPrograms(requiredPrograms) + DockerEngine.missingPackages }

    private static let environmentLock = NSLock()

    let host: NetworkNamespace
    let client: NetworkNamespace
    let holder: MountNamespaceHolder
    let directory: String
    private(set) var engine: DockerEngine?
    private(set) var busPID: pid_t = 0
    private(set) var firewalldPID: pid_t = 0
    private(set) var webAddress = ""
    private let lock = NSLock()
    private var deleted = false

    var busAddress: String { "unix:path=\(directory)/system_bus_socket" }
    var firewalldLog: String { (try? String(contentsOfFile: directory + "/firewalld.log", encoding: .utf8)) ?? "" }

    init() throws {
        let missing = Self.missingPackages
        guard missing.isEmpty else {
            throw StackError(
                "not installed: \(missing.joined(separator: ", ")); run scripts/test.sh or apt-get install -y --no-install-recommends firewalld dbus docker.io busybox-static")
        }
        directory = "/tmp/fwt-firewalld-\(randomSuffix())"
        (host, client) = try makeUplink(hostPrefix: "fwt-fwd-host", clientPrefix: "fwt-fwd-client", hostIPv6: true)
        do {
            holder = try MountNamespaceHolder(namespace: host)
        } catch {
            host.delete()
            client.delete()
            throw error
        }
        do {
            try start()
        } catch {
            delete()
            throw error
        }
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

        busPID = try background(
            ["dbus-daemon", "--config-file=\(directory)/bus.conf", "--nofork", "--nopidfile"], log: "dbus.log")
        guard waitUntil(timeout: .seconds(10), interval: .milliseconds(20), {
            FileManager.default.fileExists(atPath: directory + "/system_bus_socket")
        }) else { throw StackError("dbus-daemon did not listen: \(tail("dbus.log"))") }

        firewalldPID = try background(
            ["env", "DBUS_SYSTEM_BUS_ADDRESS=\(busAddress)", "/usr/sbin/firewalld", "--nofork", "--nopid", "--log-target", "console"],
            log: "firewalld.log")
        var state = ""
        let running = try waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
            guard processIsAlive(firewalldPID) else { return false }
            state = try firewallCmd(["--state"], check: false).stdout
            return state.hasPrefix("running")
        }
        guard running else {
            throw StackError("firewalld is not running (alive: \(processIsAlive(firewalldPID)), state: \(state)):\n\(tail("firewalld.log"))")
        }
        // Permanent and runtime, as NetworkManager or an ifcfg ZONE= would have it: Docker reloads firewalld when
        // it creates its zone, and a reload forgets runtime-only bindings.
        try firewallCmd(["--permanent", "--zone=public", "--add-interface=eth0"])
        try firewallCmd(["--zone=public", "--change-interface=eth0"])

        Self.environmentLock.lock()
        setenv("DBUS_SYSTEM_BUS_ADDRESS", busAddress, 1)
        let started: Result<DockerEngine, any Error>
        do { started = .success(try DockerEngine(namespace: host)) } catch { started = .failure(error) }
        unsetenv("DBUS_SYSTEM_BUS_ADDRESS")
        Self.environmentLock.unlock()
        let engine = try started.get()
        self.engine = engine
        try engine.importBusyboxImage()
        try engine.runWebContainer(name: "web", publish: "\(Self.port):80")
        webAddress = try engine.address(of: "web")
    }

    /// Starts `args` in the holder's namespaces in the background, output to `log` in the scratch directory;
    /// returns its PID (nsenter and env exec the program, so it is the program's own).
    private func background(_ args: [String], log: String) throws -> pid_t {
        let command = ["nsenter", "-t", "\(holder.pid)", "-m", "-n", "--"] + args
        let script = "exec " + command.map(quoted).joined(separator: " ") + " >\(quoted(directory + "/" + log)) 2>&1 </dev/null"
        let result = try Shell.run(["sh", "-c", "(\(script)) & echo $!"], timeout: .seconds(10))
        guard let pid = pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw StackError("could not start \(args.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }
        return pid
    }

    private func tail(_ log: String) -> String {
        String(((try? String(contentsOfFile: directory + "/" + log, encoding: .utf8)) ?? "").suffix(3000))
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

    func clientStatus() throws -> String {
        try httpStatus(from: client, "http://\(Self.hostAddress):\(Self.port)/")
    }

    func clientReaches() throws -> Bool { try clientStatus() == "200" }

    func waitUntilClientReaches(timeout: Duration = .seconds(15)) throws -> Bool {
        try waitUntil(timeout: timeout, interval: .milliseconds(100)) { try clientReaches() }
    }

    func delete() {
        lock.lock()
        guard !deleted else {
            lock.unlock()
            return
        }
        deleted = true
        lock.unlock()
        engine?.stop()
        terminate(firewalldPID, timeout: .seconds(15))
        terminate(busPID)
        holder.stop()
        host.delete()
        client.delete()
        _ = try? Shell.run(["rm", "-rf", "--one-file-system", directory], timeout: .seconds(30), check: false)
    }
}

private func quoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
