import Foundation

/// Debian 12's real `lxc-net` (`/usr/libexec/lxc/lxc-net start|stop` from the lxc package: bridge lxcbr0
/// 10.0.3.1/24, its firewall rules, and dnsmasq), run inside network namespaces a test made:
///
/// - `host` (namespace): uplink veth `eth0` 192.0.2.10/24, default route via the client; lxc-net runs here.
/// - `client`: `eth0` 192.0.2.20/24, no route to 10.0.3.0/24 (the guest's traffic only comes back masqueraded).
/// - `guest`: stands in for a container (no container is started): `eth0` 10.0.3.50/24, default via 10.0.3.1,
///   its peer attached to lxcbr0 in `host`.
///
/// lxc-net hard-codes `/run/lxc` (its `network_up` flag and dnsmasq's pid file), `/var/lib/misc` (dnsmasq's
/// leases) and reads `/etc/default/lxc`. It runs in a private mount namespace (`MountNamespaceHolder`, started
/// through `ip netns exec`, so `/sys/class/net` shows the host namespace's links): there a tmpfs
/// covers `/run`, a temporary directory is bind-mounted on `/var/lib/misc`, and a file of ours on
/// `/etc/default/lxc` selects the firewall backend (`LXC_USE_NFT`; with nft present lxc-net writes `table
/// inet lxc` and `table ip lxc`, otherwise iptables rules). Nothing of it is visible outside.
///
/// `delete()` (also on deinit) runs `lxc-net stop`, kills by PID whatever still runs in the holder's mount
/// namespace (dnsmasq) and the holder, deletes the namespaces and the directory.
final class LxcNetHost: IsolatedStackHost, GuestStackHost, @unchecked Sendable {
    enum Firewall: String, Sendable, CaseIterable, CustomStringConvertible {
        case nftables, iptables
        var description: String { rawValue }
    }

    static let namespacePrefix = "fwt-lxc"
    static let script = "/usr/libexec/lxc/lxc-net"
    static let bridge = "lxcbr0"
    static let subnet = "10.0.3.0/24"
    static let gateway = "10.0.3.1"
    static let guestAddress = "10.0.3.50"

    static let requiredPrograms: [(path: String, package: String)] = [
        (script, "lxc"), ("/usr/sbin/dnsmasq", "dnsmasq-base"), ("/usr/sbin/nft", "nftables"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static let aptPackages = "lxc dnsmasq-base"

    let firewall: Firewall
    let guest: NetworkNamespace
    /// The host end of the guest's veth, on lxcbr0.
    let guestPort = "veth" + randomSuffix(length: 7)
    private var started = false

    override var startedProcesses: [pid_t] { super.startedProcesses + [dnsmasqPid].compactMap { $0 } }

    init(firewall: Firewall) throws {
        try Self.throwUnlessInstalled()
        self.firewall = firewall
        let guest = try NetworkNamespace(prefix: Self.namespacePrefix + "-guest")
        self.guest = guest
        try super.init(
            prefix: Self.namespacePrefix,
            directory: FileManager.default.temporaryDirectory.appendingPathComponent("fwt-lxcnet-\(randomSuffix())").path,
            otherNamespaces: [guest])
        try building {
            try FileManager.default.createDirectory(atPath: "\(directory)/misc", withIntermediateDirectories: true)
            try "# fwdwatch test\nLXC_USE_NFT=\"\(firewall == .nftables)\"\n".write(
                toFile: "\(directory)/default-lxc", atomically: true, encoding: .utf8)
            try holder.script(
                """
                set -e
                mount -t tmpfs -o mode=755 fwt-lxcnet-run /run
                mkdir -p /run/lxc
                mount --bind \(directory)/misc /var/lib/misc
                mount --bind \(directory)/default-lxc /etc/default/lxc
                """)
            try holder.inside([Self.script, "start"])
            started = true
            try host.plugGuest(guest, port: guestPort, into: Self.bridge, address: Self.guestAddress, gateway: Self.gateway)
        }
    }

    deinit { delete() }

    /// dnsmasq's PID, from the pid file lxc-net had it write (under the holder's /run/lxc).
    var dnsmasqPid: Int32? { holder.pidFile("/run/lxc/dnsmasq.pid") }

    // MARK: lxc-net's MASQUERADE

    /// Deletes the rule lxc-net wrote for 10.0.3.0/24.
    func deleteMasquerade() throws {
        switch firewall {
        case .nftables:
            let chain = try host.exec(["nft", "-a", "list", "chain", "ip", "lxc", "postrouting"]).stdout
            let line = try chain.split(separator: "\n").first { $0.contains("masquerade") && $0.contains("# handle ") }
                .map(String.init).orThrow(StackError("lxc-net's masquerade rule is not in: \(chain)"))
            let handle = String(line.split(separator: " ").last ?? "")
            try host.exec(["nft", "delete", "rule", "ip", "lxc", "postrouting", "handle", handle])
        case .iptables:
            try host.exec(["iptables", "-t", "nat", "-D"] + Self.iptablesMasquerade)
        }
    }

    /// Puts it back as lxc-net writes it.
    func restoreMasquerade() throws {
        switch firewall {
        case .nftables:
            try host.exec([
                "nft", "add rule ip lxc postrouting ip saddr \(Self.subnet) ip daddr != \(Self.subnet) counter masquerade",
            ])
        case .iptables:
            try host.exec(["iptables", "-t", "nat", "-A"] + Self.iptablesMasquerade)
        }
    }

    static let iptablesMasquerade = ["POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE"]

    // MARK: Cleaning up

    override func stopStack() {
        if started, holder.isRunning { _ = try? holder.inside([Self.script, "stop"], check: false) }
    }
}

extension Optional {
    fileprivate func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
