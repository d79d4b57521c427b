import Foundation
import FwdwatchCore
import FwdwatchProc
import Testing

/// ProcReader against real network namespaces: the reading thread joins the namespace (`setns`), and the
/// results are compared with what `ip netns exec NAME sysctl -n` says there.
@Suite("ProcReader in network namespaces", .enabled(if: isRoot, rootRequired), .serialized)
struct ProcReaderNamespaceTests {
    /// The sysctl file of each `InterfaceConf` field.
    private static let confFields: [(file: String, field: KeyPath<InterfaceConf, Int?> & Sendable)] = [
        ("forwarding", \.forwarding), ("rp_filter", \.rpFilter), ("route_localnet", \.routeLocalnet),
        ("bc_forwarding", \.bcForwarding), ("proxy_arp", \.proxyArp), ("accept_local", \.acceptLocal),
    ]

    /// Reads the namespace's proc from a thread inside it.
    private func read(in namespace: NetworkNamespace) throws -> ProcState {
        try namespace.onThreadInside { try ProcReader().read() }
    }

    /// What `sysctl -n` reports for every interface and field, in one call.
    private func sysctlView(of namespace: NetworkNamespace, interfaces: [String]) throws -> [String: [Int]] {
        let keys = interfaces.flatMap { name in Self.confFields.map { "net.ipv4.conf.\(name).\($0.file)" } }
        let lines = try namespace.exec(["sysctl", "-n"] + keys).stdout.split(separator: "\n")
        try #require(lines.count == keys.count, "sysctl -n printed \(lines.count) values for \(keys.count) keys")
        var view: [String: [Int]] = [:]
        for (index, name) in interfaces.enumerated() {
            view[name] = try (0..<Self.confFields.count).map { field in
                try #require(Int(lines[index * Self.confFields.count + field]))
            }
        }
        return view
    }

    private func interfaceNames(in namespace: NetworkNamespace) throws -> Set<String> {
        let listing = try namespace.exec(["ls", "/proc/sys/net/ipv4/conf"]).stdout
        return Set(listing.split(whereSeparator: \.isWhitespace).map(String.init))
    }

    private func expectMatchesSysctl(_ state: ProcState, in namespace: NetworkNamespace) throws {
        let names = try interfaceNames(in: namespace)
        #expect(Set(state.ipv4Conf.keys) == names)
        let view = try sysctlView(of: namespace, interfaces: names.sorted())
        for (name, values) in view {
            let conf = try #require(state.ipv4Conf[name])
            #expect(Self.confFields.map { conf[keyPath: $0.field] } == values.map { Optional($0) }, "interface \(name)")
        }
    }

    @Test("reads the incident host's namespace exactly as sysctl sees it, not the test process's")
    func readsNamespace() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let state = try read(in: topology.host)

        #expect(Set(state.ipv4Conf.keys) == Set(["all", "default"] + topology.hostInterfaces))
        try expectMatchesSysctl(state, in: topology.host)
        for name in ["all", "default"] + topology.hostInterfaces {
            #expect(state.ipv4Conf[name]?.forwarding == 1, "forwarding of \(name)")
        }
        // Ip: Forwarding is the namespace's (1 = forwarding on); the root namespace may say 2.
        #expect(state.ipCounters["Forwarding"] == 1)
        #expect(state.ipv6Forwarding.keys.contains(topology.bridgePort))
        let expectedCount = try UInt64(#require(Int(topology.host.sysctl("net.netfilter.nf_conntrack_count"))))
        #expect(state.conntrack?.max == UInt64(try #require(Int(topology.host.sysctl("net.netfilter.nf_conntrack_max")))))
        #expect(state.conntrack.map { $0.count <= expectedCount + 10 } == true)
        #expect(state.hostname != nil)
    }

    @Test("flipped sysctls show up in the next read")
    func flippedValues() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let host = topology.host
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        try host.setSysctl("net.ipv4.conf.eth0.accept_local", "1")
        try host.setSysctl("net.ipv4.conf.docker0.rp_filter", "2")
        try host.setSysctl("net.ipv4.conf.docker0.route_localnet", "1")
        try host.setSysctl("net.ipv4.conf.docker0.bc_forwarding", "1")
        try host.setSysctl("net.ipv4.conf.\(topology.bridgePort).proxy_arp", "1")

        let state = try read(in: host)
        #expect(
            state.ipv4Conf["eth0"]
                == InterfaceConf(
                    forwarding: 0, rpFilter: 0, routeLocalnet: 0, bcForwarding: 0, proxyArp: 0, acceptLocal: 1))
        #expect(
            state.ipv4Conf["docker0"]
                == InterfaceConf(
                    forwarding: 1, rpFilter: 2, routeLocalnet: 1, bcForwarding: 1, proxyArp: 0, acceptLocal: 0))
        #expect(state.ipv4Conf[topology.bridgePort]?.proxyArp == 1)
        #expect(state.ipv4Conf["all"]?.forwarding == 1)
        try expectMatchesSysctl(state, in: host)

        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        #expect(try read(in: host).ipv4Conf["eth0"]?.forwarding == 1)
    }

    @Test("packets dropped on an uplink with forwarding=0 raise InAddrErrors in the namespace's counters")
    func dropsCounted() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let before = try topology.host.onThreadInside { try ProcReader().readIPCounters() }
        let start = try #require(before["InAddrErrors"])
        for _ in 0..<3 {
            try topology.client.exec(["bash", "-c", "echo probe > /dev/udp/\(IncidentTopology.containerAddress)/9"])
        }
        let rose = try waitUntil(timeout: .seconds(5)) {
            let now = try topology.host.onThreadInside { try ProcReader().readIPCounters() }
            return (now["InAddrErrors"] ?? 0) >= start + 3
        }
        #expect(rose, "InAddrErrors stayed at \(start)")
    }

    @Test("a deleted interface disappears from the next read without an error")
    func deletedInterface() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        #expect(try read(in: topology.host).ipv4Conf[topology.bridgePort] != nil)
        try topology.host.deleteLink(topology.bridgePort)
        let state = try read(in: topology.host)
        #expect(state.ipv4Conf[topology.bridgePort] == nil)
        #expect(state.ipv6Forwarding[topology.bridgePort] == nil)
        #expect(Set(state.ipv4Conf.keys) == Set(["all", "default", "lo", "eth0", "docker0"]))
    }

    @Test("interfaces deleted while being read are skipped: no error, no half-read entry")
    func churnWhileReading() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let pairs = 150
        try namespace.exec(
            ["ip", "-batch", "-"], timeout: .seconds(120),
            input: (0..<pairs).map { "link add ca\($0) type veth peer name cb\($0)\n" }.joined())

        let stop = StopFlag()
        let reads = namespace.onThreadInsideInBackground { () throws -> ChurnReport in
            var report = ChurnReport()
            repeat {
                let state = try ProcReader().read()
                report.reads += 1
                report.incomplete += state.ipv4Conf.values.filter { conf in
                    Self.confFields.contains { conf[keyPath: $0.field] == nil }
                }.count
            } while !stop.isSet
            return report
        }
        try namespace.exec(
            ["ip", "-batch", "-"], timeout: .seconds(120),
            input: (0..<pairs).map { "link delete ca\($0)\n" }.joined())
        stop.set()
        let report = try reads.wait()
        #expect(report.reads > 1)
        #expect(report.incomplete == 0, "entries with nil values from vanished interfaces")
        #expect(Set(try read(in: namespace).ipv4Conf.keys) == ["all", "default", "lo"])
    }

    @Test("reads a namespace with 1000 veth pairs (2000 interfaces) quickly")
    func readsManyInterfaces() throws {
        let pairs = ProcessInfo.processInfo.environment["FWT_PROC_PAIRS"].flatMap(Int.init) ?? 1000
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let created = ContinuousClock().measure {
            _ = try? namespace.exec(
                ["ip", "-batch", "-"], timeout: .seconds(600),
                input: (0..<pairs).map { "link add pa\($0) type veth peer name pb\($0)\n" }.joined())
        }
        var state = ProcState()
        var timings: [Duration] = []
        for _ in 0..<3 {
            let started = ContinuousClock.now
            state = try read(in: namespace)
            timings.append(ContinuousClock.now - started)
        }
        let best = try #require(timings.min())
        print("ProcReader: \(pairs * 2 + 3) conf entries read in \(timings) (best \(best)); creating took \(created)")
        #expect(state.ipv4Conf.count == pairs * 2 + 3)
        #expect(state.ipv4Conf["pa\(pairs - 1)"]?.forwarding == 0)
        #expect(best < .seconds(Double(pairs) / 1000 * 2), "reading took \(best)")
    }
}

/// What the churn reader saw.
private struct ChurnReport: Sendable {
    var reads = 0
    var incomplete = 0
}

/// A flag one thread sets and another polls.
private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
