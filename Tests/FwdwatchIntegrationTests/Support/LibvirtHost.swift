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
final class LibvirtHost: IsolatedStackHost, GuestStackHost, @unchecked Sendable {
    static let namespacePrefix = "fwt-lv"
    static let bridge = "virbr0"
    static let subnet = "192.168.122.0/24"
    static let gateway = "192.168.122.1"
    static let guestAddress = "192.168.122.50"
    static let networkDriver = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_network.so"
    /// The client's curl waits 2 s: long enough to tell a refusal (exit 7) from a timeout (exit 28).
    static let clientPatience = 2

    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/sbin/libvirtd", "libvirt-daemon"), ("/usr/bin/virsh", "libvirt-clients"),
        ("/usr/sbin/dnsmasq", "dnsmasq-base"), ("/usr/sbin/iptables", "iptables"), ("/bin/busybox", "busybox-static"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    /// The programs, and the network driver (a library, not executable).
    static var missingPackages: [String] {
        missingPrograms(requiredPrograms)
            + (FileManager.default.fileExists(atPath: networkDriver) ? [] : ["libvirt-daemon (\(networkDriver))"])
    }

    static let aptPackages = "libvirt-daemon libvirt-clients dnsmasq-base busybox-static"

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

    let guest: NetworkNamespace
    private(set) var libvirtdPID: pid_t = 0
    private let guestServer = Process()
    private var networkStarted = false

    var libvirtdLog: String { (try? String(contentsOfFile: directory + "/libvirtd.log", encoding: .utf8)) ?? "" }
    override var startedProcesses: [pid_t] { super.startedProcesses + [libvirtdPID] + [dnsmasqPID].compactMap { $0 } }

    init() throws {
        try Self.throwUnlessInstalled()
        let guest = try NetworkNamespace(prefix: Self.namespacePrefix + "-guest")
        self.guest = guest
        try super.init(
            prefix: Self.namespacePrefix, directory: "/tmp/fwt-libvirt-\(randomSuffix())", otherNamespaces: [guest])
        try building(start)
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

        let pid = try holder.startInBackground(
            ["/usr/sbin/libvirtd", "--config", "/etc/libvirt/libvirtd.conf", "--pid-file", "/run/libvirtd.pid"],
            environment: ["LIBVIRT_DRIVER_DIR": "\(directory)/drivers"], log: directory + "/libvirtd.log")
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

        try host.plugGuest(guest, port: "vnet0", into: Self.bridge, address: Self.guestAddress, gateway: Self.gateway)
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
    var dnsmasqPID: pid_t? { holder.pidFile("/run/libvirt/network/default.pid") }

    override func stopStack() {
        if guestServer.isRunning {
            kill(guestServer.processIdentifier, SIGKILL)
            guestServer.waitUntilExit()
        }
        if networkStarted, processIsAlive(libvirtdPID) { _ = try? virsh(["net-destroy", "default"], check: false) }
        terminate(libvirtdPID)
    }
}
