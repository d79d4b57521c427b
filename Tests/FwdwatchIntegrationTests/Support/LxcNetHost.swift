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
/// leases) and reads `/etc/default/lxc`. It runs in a private mount namespace held open by one `sleep`
/// (started through `ip netns exec`, so `/sys/class/net` shows the host namespace's links): there a tmpfs
/// covers `/run`, a temporary directory is bind-mounted on `/var/lib/misc`, and a file of ours on
/// `/etc/default/lxc` selects the firewall backend (`LXC_USE_NFT`; with nft present lxc-net writes `table
/// inet lxc` and `table ip lxc`, otherwise iptables rules). Nothing of it is visible outside.
///
/// `delete()` (also on deinit) runs `lxc-net stop`, kills dnsmasq and the holder by PID, deletes the
/// namespaces and the directory.
final class LxcNetHost: @unchecked Sendable {
    enum Firewall: String, Sendable, CaseIterable, CustomStringConvertible {
        case nftables, iptables
        var description: String { rawValue }
    }

    static let script = "/usr/libexec/lxc/lxc-net"
    static let bridge = "lxcbr0"
    static let subnet = "10.0.3.0/24"
    static let guestAddress = "10.0.3.50"
    static let hostAddress = "192.0.2.10"
    static let clientAddress = "192.0.2.20"

    static let requiredPrograms: [(path: String, package: String)] = [
        (script, "lxc"), ("/usr/sbin/dnsmasq", "dnsmasq-base"), ("/usr/sbin/nft", "nftables"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static func missingPrograms() -> [String] {
        requiredPrograms.filter { !FileManager.default.isExecutableFile(atPath: $0.path) }
            .map { "\($0.package) (\($0.path))" }
    }

    let firewall: Firewall
    let host: NetworkNamespace
    let client: NetworkNamespace
    let guest: NetworkNamespace
    let directory: String
    /// The host end of the guest's veth, on lxcbr0.
    let guestPort = "veth" + randomSuffix(length: 7)
    private let holder = Process()
    private let lock = NSLock()
    private var deleted = false
    private var started = false

    init(firewall: Firewall) throws {
        let missing = Self.missingPrograms()
        guard missing.isEmpty else { throw LxcNetError.missingPackages(missing) }
        self.firewall = firewall
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-lxcnet-\(randomSuffix())").path
        var made: [NetworkNamespace] = []
        do {
            made.append(try NetworkNamespace(prefix: "fwt-lxc-host"))
            made.append(try NetworkNamespace(prefix: "fwt-lxc-client"))
            made.append(try NetworkNamespace(prefix: "fwt-lxc-guest"))
        } catch {
            for namespace in made { namespace.delete() }
            throw error
        }
        host = made[0]
        client = made[1]
        guest = made[2]
        do {
            try host.addVethPair("eth0", "eth0", peerNamespace: client)
            try host.addAddress("\(Self.hostAddress)/24", to: "eth0")
            try client.addAddress("\(Self.clientAddress)/24", to: "eth0")
            try host.ip(["route", "add", "default", "via", Self.clientAddress, "dev", "eth0"])
            try FileManager.default.createDirectory(atPath: "\(directory)/misc", withIntermediateDirectories: true)
            try "# fwdwatch test\nLXC_USE_NFT=\"\(firewall == .nftables)\"\n".write(
                toFile: "\(directory)/default-lxc", atomically: true, encoding: .utf8)
            try startHolder()
            try inside([Self.script, "start"])
            started = true
            try host.addVethPair(guestPort, "eth0", peerNamespace: guest)
            try host.attach(port: guestPort, to: Self.bridge)
            try guest.addAddress("\(Self.guestAddress)/24", to: "eth0")
            try guest.ip(["route", "add", "default", "via", "10.0.3.1", "dev", "eth0"])
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    /// Runs `args` in the host namespace and the holder's mount namespace.
    @discardableResult
    func inside(_ args: [String], check: Bool = true) throws -> ShellResult {
        try Shell.run(["nsenter", "-t", "\(holder.processIdentifier)", "-m", "-n", "--"] + args, timeout: .seconds(60), check: check)
    }

    private func startHolder() throws {
        holder.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        holder.arguments = ["netns", "exec", host.name, "unshare", "--mount", "--propagation", "private", "sleep", "infinity"]
        holder.standardInput = FileHandle.nullDevice
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        let pid = holder.processIdentifier
        let ours = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")) ?? ""
        let ready = waitUntil(timeout: .seconds(10), interval: .milliseconds(10)) {
            guard let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt"),
                let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
            else { return false }
            return theirs != ours && command.hasPrefix("sleep")
        }
        guard ready else { throw LxcNetError.holderDidNotStart }
        try Shell.run([
            "nsenter", "-t", "\(pid)", "-m", "--", "sh", "-c",
            """
            set -e
            mount -t tmpfs -o mode=755 fwt-lxcnet-run /run
            mkdir -p /run/lxc
            mount --bind \(directory)/misc /var/lib/misc
            mount --bind \(directory)/default-lxc /etc/default/lxc
            """,
        ])
    }

    /// dnsmasq's PID, from the pid file lxc-net had it write (under the holder's /run/lxc).
    var dnsmasqPid: Int32? {
        guard holder.isRunning,
            let text = try? String(
                contentsOfFile: "/proc/\(holder.processIdentifier)/root/run/lxc/dnsmasq.pid", encoding: .utf8)
        else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Whether the guest gets a 200 from a server on the client.
    func guestReachesClient(port: Int) throws -> Bool {
        try guest.exec(
            [
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                "http://\(Self.clientAddress):\(port)/",
            ], check: false
        ).stdout == "200"
    }

    // MARK: lxc-net's MASQUERADE

    /// Deletes the rule lxc-net wrote for 10.0.3.0/24.
    func deleteMasquerade() throws {
        switch firewall {
        case .nftables:
            let chain = try host.exec(["nft", "-a", "list", "chain", "ip", "lxc", "postrouting"]).stdout
            let line = try chain.split(separator: "\n").first { $0.contains("masquerade") && $0.contains("# handle ") }
                .map(String.init).orThrow(LxcNetError.ruleNotFound(chain))
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

    func delete() {
        lock.lock()
        guard !deleted else {
            lock.unlock()
            return
        }
        deleted = true
        lock.unlock()
        let dnsmasq = dnsmasqPid
        if started, holder.isRunning { _ = try? inside([Self.script, "stop"], check: false) }
        if let dnsmasq, kill(dnsmasq, 0) == 0 { kill(dnsmasq, SIGKILL) }
        if holder.isRunning {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        guest.delete()
        client.delete()
        host.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum LxcNetError: Error, CustomStringConvertible {
    case missingPackages([String])
    case holderDidNotStart
    case ruleNotFound(String)

    var description: String {
        switch self {
        case .missingPackages(let missing):
            "missing: \(missing.joined(separator: ", ")); install them with "
                + "`apt-get install -y --no-install-recommends lxc dnsmasq-base` (scripts/test.sh does)"
        case .holderDidNotStart: "the mount namespace holder (ip netns exec ... unshare --mount sleep) did not start"
        case .ruleNotFound(let chain): "lxc-net's masquerade rule is not in: \(chain)"
        }
    }
}

extension Optional {
    fileprivate func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
