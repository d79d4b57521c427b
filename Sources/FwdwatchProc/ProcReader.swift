#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FwdwatchCore

/// Reads the forwarding-related sysctls and counters from a proc tree.
///
/// Every path hangs off `root`, like node_exporter's `--path.procfs`: `"/"` reads `/proc/...`,
/// `"/tmp/x"` reads `/tmp/x/proc/...` (a recorded tree). `/proc/sys/net` shows the network namespace
/// of the *calling thread*, so the reader reads the counters through `proc/thread-self` when it exists.
public struct ProcReader: Sendable {
    /// The directory that contains `proc`.
    public let root: String
    /// `<root>/proc`.
    public let procPath: String

    public init(root: String = "/") {
        self.root = root
        var base = root
        while base.hasSuffix("/") { base.removeLast() }
        self.procPath = base + "/proc"
    }

    /// The per-interface IPv4 sysctls `InterfaceConf` holds, by file name.
    static let interfaceConfFiles: [(file: String, field: any WritableKeyPath<InterfaceConf, Int?> & Sendable)] = [
        ("forwarding", \.forwarding),
        ("rp_filter", \.rpFilter),
        ("route_localnet", \.routeLocalnet),
        ("bc_forwarding", \.bcForwarding),
        ("proxy_arp", \.proxyArp),
        ("accept_local", \.acceptLocal),
    ]

    /// Reads everything in one pass.
    ///
    /// Interfaces that disappear while being read are left out; a single unreadable value is nil.
    /// - Throws: `ProcError.rootMissing` when `<root>/proc/sys/net/ipv4/conf` does not exist;
    ///   `ProcError.unreadable`/`.malformed` when the conf directory or `net/snmp` cannot be read.
    public func read() throws -> ProcState {
        let ipv4Conf = try readIPv4Conf()
        return ProcState(
            ipv4Conf: ipv4Conf,
            ipv6Forwarding: readIPv6Forwarding(),
            bridgeNetfilter: readBridgeNetfilter(),
            conntrack: readConntrack(),
            ipCounters: try readIPCounters(),
            hostname: readText("sys/kernel/hostname").flatMap(ProcText.sysctlLine)
        )
    }

    /// The `Ip:` counters of `<root>/proc/net/snmp` (through `proc/thread-self/net/snmp` when present).
    public func readIPCounters() throws -> [String: UInt64] {
        var path = procPath + "/thread-self/net/snmp"
        var result = ProcFiles.read(path)
        if case .missing = result {
            path = procPath + "/net/snmp"
            result = ProcFiles.read(path)
        }
        switch result {
        case .text(let text): return try ProcText.ipCounters(fromSNMP: text, path: path)
        case .missing: throw ProcError.unreadable(path: path, errno: ENOENT)
        case .failed(let code): throw ProcError.unreadable(path: path, errno: code)
        }
    }

    // MARK: - Parts

    private func readIPv4Conf() throws -> [String: InterfaceConf] {
        let path = procPath + "/sys/net/ipv4/conf"
        let confFD: Int32
        switch ProcFiles.openDirectory(path) {
        case .opened(let fd): confFD = fd
        case .missing: throw ProcError.rootMissing(root: root, path: path)
        case .failed(let code): throw ProcError.unreadable(path: path, errno: code)
        }
        defer { close(confFD) }
        let names: [String]
        switch ProcFiles.entries(of: confFD) {
        case .success(let list): names = list
        case .failure(let failure): throw ProcError.unreadable(path: path, errno: failure.errno)
        }
        var confs: [String: InterfaceConf] = [:]
        confs.reserveCapacity(names.count)
        for name in names {
            if let conf = readInterfaceConf(name, in: confFD) { confs[name] = conf }
        }
        return confs
    }

    /// One interface's values; nil when the interface vanished (or is not a directory).
    private func readInterfaceConf(_ name: String, in confFD: Int32) -> InterfaceConf? {
        let interfaceFD: Int32
        switch ProcFiles.openDirectory(name, in: confFD) {
        case .opened(let fd): interfaceFD = fd
        case .missing: return nil
        case .failed: return InterfaceConf()
        }
        defer { close(interfaceFD) }
        var conf = InterfaceConf()
        for (file, field) in Self.interfaceConfFiles {
            switch ProcFiles.read(file, in: interfaceFD, shortReadEnds: true) {
            case .text(let text):
                conf[keyPath: field] = ProcText.sysctlInt(text)
            case .missing:
                // Either this kernel lacks the file, or the interface is going away. An interface's sysctls
                // vanish together, `forwarding` (present in every kernel) with them, sometimes while the
                // directory is still listed: probe `forwarding`, not the directory.
                if !ProcFiles.exists("forwarding", in: interfaceFD) || !ProcFiles.exists(name, in: confFD) {
                    return nil
                }
            case .failed:
                break
            }
        }
        return conf
    }

    private func readIPv6Forwarding() -> [String: Int] {
        guard case .opened(let confFD) = ProcFiles.openDirectory(procPath + "/sys/net/ipv6/conf") else {
            return [:]
        }
        defer { close(confFD) }
        guard case .success(let names) = ProcFiles.entries(of: confFD) else { return [:] }
        var forwarding: [String: Int] = [:]
        forwarding.reserveCapacity(names.count)
        for name in names {
            if case .text(let text) = ProcFiles.read(name + "/forwarding", in: confFD, shortReadEnds: true),
                let value = ProcText.sysctlInt(text)
            {
                forwarding[name] = value
            }
        }
        return forwarding
    }

    private func readBridgeNetfilter() -> BridgeNetfilter? {
        let directory = "sys/net/bridge"
        guard ProcFiles.exists(procPath + "/" + directory) else { return nil }
        func value(_ file: String) -> Int? {
            readText(directory + "/" + file).flatMap(ProcText.sysctlInt)
        }
        return BridgeNetfilter(
            callIptables: value("bridge-nf-call-iptables"),
            callIp6tables: value("bridge-nf-call-ip6tables"),
            callArptables: value("bridge-nf-call-arptables")
        )
    }

    private func readConntrack() -> Conntrack? {
        guard let count = readText("sys/net/netfilter/nf_conntrack_count").flatMap(ProcText.sysctlUInt64),
            let max = readText("sys/net/netfilter/nf_conntrack_max").flatMap(ProcText.sysctlUInt64)
        else { return nil }
        return Conntrack(count: count, max: max)
    }

    /// The text of `<root>/proc/<relativePath>`, or nil when it cannot be read.
    private func readText(_ relativePath: String) -> String? {
        guard case .text(let text) = ProcFiles.read(procPath + "/" + relativePath, shortReadEnds: true) else {
            return nil
        }
        return text
    }
}
