import Foundation

/// Debian 12's real libvirt 9.0 network driver running the default NAT network (virbr0 192.168.122.1/24,
/// DHCP by its dnsmasq, the LIBVIRT_* iptables chains), in namespaces a test made. No VM: a veth stands in for
/// the guest's NIC.
///
/// - `host`: uplink `eth0` 192.0.2.10/24, default route via the client. Debian 12 ships only the monolithic
///   `libvirtd` (no virtnetworkd); it runs here in a private mount namespace (`MountNamespaceHolder`) where a
///   scratch copy of `/etc/libvirt` (plus a `libvirtd.conf` with unix socket auth "none") covers the machine's,
///   and tmpfs covers `/run` (sockets, pid files, network status), `/var/lib` (`/var/lib/libvirt`: network
///   definitions' dnsmasq configs), `/var/cache` and `/var/log`, none of which exist on the machine for libvirt.
///   `LIBVIRT_DRIVER_DIR` points at a directory holding only `libvirt_driver_network.so`: the QEMU driver
///   (pulled in by libvirt-daemon) refuses to initialise without the user libvirt-qemu, which only
///   libvirt-daemon-system creates, and a failed driver stops libvirtd; with the network driver alone libvirtd
///   is what virtnetworkd would be. Clients connect with `virsh -c network:///system`. There is no system bus
///   in there, so libvirt uses iptables directly (its log says "disabling firewalld support").
/// - The network `default` (the XML of libvirt-daemon-config-network) defined and started with virsh.
/// - `guest`: `eth0` 192.168.122.50/24, default via 192.168.122.1, its peer `vnet0` on virbr0 (as libvirt
///   names a guest's tap); `busybox httpd` on port 80 there.
/// - `client`: `eth0` 192.0.2.20/24, no route to 192.168.122.0/24 (the guest's traffic comes back masqueraded).
///
/// `delete()` (also on deinit) destroys the network (libvirt removes its rules, stops its dnsmasq, deletes
/// virbr0), stops libvirtd by PID, kills by PID whatever still runs in the holder's mount namespace (dnsmasq),
/// the holder and the guest's httpd, deletes the namespaces and the scratch directory.
final class LibvirtHost: @unchecked Sendable {
    static let bridge = "virbr0"
    static let subnet = "192.168.122.0/24"
    static let guestAddress = "192.168.122.50"
    static let hostAddress = "192.0.2.10"
    static let clientAddress = "192.0.2.20"
    static let networkDriver = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_network.so"

    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/sbin/libvirtd", "libvirt-daemon"), (networkDriver, "libvirt-daemon"), ("/usr/bin/virsh", "libvirt-clients"),
        ("/usr/sbin/dnsmasq", "dnsmasq-base"), ("/usr/sbin/iptables", "iptables"), ("/bin/busybox", "busybox-static"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static var missingPackages: [String] {
        requiredPrograms.filter { !FileManager.default.fileExists(atPath: $0.path) }.map { "\($0.package) (\($0.path))" }
    }

    static let networkXML = """
        <network>
          <name>default</name>
          <forward mode='nat'/>
          <bridge name='virbr0' stp='on' delay='0'/>
          <ip address='192.168.122.1' netmask='255.255.255.0'>
            <dhcp>
              <range start='192.168.122.2' end='192.168.122.254'/>
            </dhcp>
          </ip>
        </network>

        """

    let host: NetworkNamespace
    let client: NetworkNamespace
    let guest: NetworkNamespace
    let holder: MountNamespaceHolder
    let directory: String
    private(set) var libvirtdPID: pid_t = 0
    private let guestServer = Process()
    private let lock = NSLock()
    private var deleted = false
    private var networkStarted = false

    var libvirtdLog: String { (try? String(contentsOfFile: directory + "/libvirtd.log", encoding: .utf8)) ?? "" }

    init() throws {
        let missing = Self.missingPackages
        guard missing.isEmpty else {
            throw StackError(
                "not installed: \(missing.joined(separator: ", ")); run scripts/test.sh or apt-get install -y --no-install-recommends libvirt-daemon libvirt-clients dnsmasq-base busybox-static")
        }
        directory = "/tmp/fwt-libvirt-\(randomSuffix())"
        (host, client) = try makeUplink(hostPrefix: "fwt-lv-host", clientPrefix: "fwt-lv-client")
        do {
            guest = try NetworkNamespace(prefix: "fwt-lv-guest")
        } catch {
            host.delete()
            client.delete()
            throw error
        }
        do {
            holder = try MountNamespaceHolder(namespace: host)
        } catch {
            host.delete()
            client.delete()
            guest.delete()
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
        let files = FileManager.default
        try files.createDirectory(atPath: directory + "/drivers", withIntermediateDirectories: true)
        try files.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        try "fwdwatch libvirt guest\n".write(toFile: directory + "/www/index.html", atomically: true, encoding: .utf8)
        try files.createSymbolicLink(atPath: directory + "/drivers/libvirt_driver_network.so", withDestinationPath: Self.networkDriver)
        try Shell.run(["cp", "-a", "/etc/libvirt", directory + "/etc-libvirt"])
        try """
        unix_sock_group = "root"
        unix_sock_ro_perms = "0700"
        unix_sock_rw_perms = "0700"
        auth_unix_ro = "none"
        auth_unix_rw = "none"
        log_outputs = "3:stderr"

        """.write(toFile: directory + "/etc-libvirt/libvirtd.conf", atomically: true, encoding: .utf8)
        try Self.networkXML.write(toFile: directory + "/default.xml", atomically: true, encoding: .utf8)
        try holder.bind(directory + "/etc-libvirt", over: "/etc/libvirt")
        for path in ["/run", "/var/lib", "/var/cache", "/var/log"] { try holder.tmpfs(over: path) }
        try holder.inside(["mkdir", "-p", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt", "/run/libvirt"])

        let command = [
            "nsenter", "-t", "\(holder.pid)", "-m", "-n", "--", "env", "LIBVIRT_DRIVER_DIR=\(directory)/drivers",
            "/usr/sbin/libvirtd", "--config", "/etc/libvirt/libvirtd.conf", "--pid-file", "/run/libvirtd.pid",
        ]
        let script = "exec " + command.map(quoted).joined(separator: " ") + " >\(quoted(directory + "/libvirtd.log")) 2>&1 </dev/null"
        let started = try Shell.run(["sh", "-c", "(\(script)) & echo $!"], timeout: .seconds(10))
        guard let pid = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw StackError("could not start libvirtd: \(started.stdout) \(started.stderr)")
        }
        libvirtdPID = pid
        var lastError = ""
        let answered = try waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
            guard processIsAlive(pid) else { return false }
            let result = try virsh(["net-list", "--all"], check: false)
            lastError = result.stderr
            return result.succeeded
        }
        guard answered else {
            throw StackError("libvirtd did not answer (alive: \(processIsAlive(pid))): \(lastError)\n\(libvirtdLog.suffix(3000))")
        }
        try virsh(["net-define", directory + "/default.xml"])
        try virsh(["net-start", "default"])
        networkStarted = true

        try host.addVethPair("vnet0", "eth0", peerNamespace: guest)
        try host.attach(port: "vnet0", to: Self.bridge)
        try guest.addAddress("\(Self.guestAddress)/24", to: "eth0")
        try guest.ip(["route", "add", "default", "via", "192.168.122.1", "dev", "eth0"])
        guestServer.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        guestServer.arguments = ["netns", "exec", guest.name, "/bin/busybox", "httpd", "-f", "-p", "80", "-h", directory + "/www"]
        guestServer.standardInput = FileHandle.nullDevice
        guestServer.standardOutput = FileHandle.nullDevice
        guestServer.standardError = FileHandle.nullDevice
        try guestServer.run()
    }

    /// virsh against this libvirtd's network driver.
    @discardableResult
    func virsh(_ args: [String], check: Bool = true) throws -> ShellResult {
        try holder.inside(["virsh", "-c", "network:///system"] + args, check: check)
    }

    /// dnsmasq's PID, from the pid file libvirt had it write (under the holder's /run).
    var dnsmasqPID: pid_t? {
        guard let text = try? String(contentsOfFile: "/proc/\(holder.pid)/root/run/libvirt/network/default.pid", encoding: .utf8)
        else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The status the guest gets from a server on the client.
    func guestStatus(port: Int) throws -> String {
        try httpStatus(from: guest, "http://\(Self.clientAddress):\(port)/", seconds: 2)
    }

    /// What the client gets from the host's `port`: the HTTP status and curl's exit status (7: refused, 28: timed out).
    func clientAttempt(port: Int) throws -> (status: String, exit: Int32) {
        let result = try client.exec(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "http://\(Self.hostAddress):\(port)/"],
            check: false)
        return (result.stdout, result.status)
    }

    /// PIDs of the processes in the holder's mount namespace other than the holder (libvirtd, dnsmasq, ...).
    func processesInside() -> [pid_t] {
        guard let mine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.pid)/ns/mnt") else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = pid_t(entry), pid != holder.pid,
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/ns/mnt")) == mine,
                processIsAlive(pid)
            else { return nil }
            return pid
        }
    }

    func delete() {
        lock.lock()
        guard !deleted else {
            lock.unlock()
            return
        }
        deleted = true
        lock.unlock()
        if guestServer.isRunning {
            kill(guestServer.processIdentifier, SIGKILL)
            guestServer.waitUntilExit()
        }
        if networkStarted, processIsAlive(libvirtdPID) { _ = try? virsh(["net-destroy", "default"], check: false) }
        terminate(libvirtdPID)
        if holder.isRunning {
            for _ in 0..<3 {
                let left = processesInside()
                if left.isEmpty { break }
                for pid in left { kill(pid, SIGKILL) }
                _ = waitUntil(timeout: .seconds(5), interval: .milliseconds(50)) { left.allSatisfy { !processIsAlive($0) } }
            }
        }
        holder.stop()
        guest.delete()
        client.delete()
        host.delete()
        _ = try? Shell.run(["rm", "-rf", "--one-file-system", directory], timeout: .seconds(30), check: false)
    }
}

private func quoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
