import FwdwatchCore
import FwdwatchFirewall
import FwdwatchNetlink
import FwdwatchProc

/// Joins the netlink half and the /proc half of the host's state into one `Snapshot`.
/// Pure, so the daemon and `fwdwatch check` build snapshots the same way.
public enum SnapshotAssembler {
    /// - Netconf values (forwarding, rp_filter) win over /proc ones: they arrive by event, the /proc
    ///   sweep may be seconds old.
    /// - Sysctl entries of interfaces netlink does not know (gone between the two reads) are dropped;
    ///   an interface netlink knows but /proc no longer has simply has no values.
    public static func assemble(
        netlink: NetlinkState, proc: ProcState, dropSample: DropSample?, firewall: FirewallReading? = nil
    ) -> Snapshot {
        let names = Set(netlink.links.map(\.name)).union(["all", "default"])
        var ipv4Conf: [String: InterfaceConf] = [:]
        for (name, conf) in proc.ipv4Conf where names.contains(name) {
            ipv4Conf[name] = conf
        }
        for (name, values) in netlink.ipv4Netconf where names.contains(name) {
            var conf = ipv4Conf[name] ?? InterfaceConf()
            if let forwarding = values.forwarding { conf.forwarding = forwarding }
            if let rpFilter = values.rpFilter { conf.rpFilter = rpFilter }
            ipv4Conf[name] = conf
        }
        var ipv6Forwarding = proc.ipv6Forwarding.filter { names.contains($0.key) }
        for (name, value) in netlink.ipv6Forwarding where names.contains(name) {
            ipv6Forwarding[name] = value
        }
        return Snapshot(
            hostname: proc.hostname,
            links: netlink.links.sorted { $0.index < $1.index },
            addresses: netlink.addresses.sorted {
                ($0.interfaceIndex, $0.family.rawValue, $0.address) < ($1.interfaceIndex, $1.family.rawValue, $1.address)
            },
            routes: netlink.routes.sorted {
                ($0.table, $0.destination, $0.metric, $0.outputInterface ?? 0)
                    < ($1.table, $1.destination, $1.metric, $1.outputInterface ?? 0)
            },
            ipv4Conf: ipv4Conf,
            ipv6Forwarding: ipv6Forwarding,
            bridgeNetfilter: proc.bridgeNetfilter,
            conntrack: proc.conntrack,
            ipCounters: proc.ipCounters,
            dropSample: dropSample,
            firewall: firewall?.state,
            firewallUnavailable: firewall?.unavailableReason,
            neighbours: netlink.neighbours.sorted {
                ($0.interfaceIndex, $0.address) < ($1.interfaceIndex, $1.address)
            })
    }
}

/// Reads the live host once: a netlink dump and a /proc read, optionally sampling the drop
/// counters over an interval (the evidence for silent drops), then asks the kernel's route lookup
/// the path walk's questions.
public struct HostReader: Sendable {
    public var procRoot: String
    /// Whether to read the netfilter rules (needs CAP_NET_ADMIN; without it the snapshot says why).
    public var readFirewall: Bool

    public init(procRoot: String = "/", readFirewall: Bool = true) {
        self.procRoot = procRoot
        self.readFirewall = readFirewall
    }

    public func read(sampleInterval: Duration = .zero) async throws -> Snapshot {
        var memo = EvaluationMemo()
        return try await read(sampleInterval: sampleInterval, settings: .defaults, memo: &memo)
    }

    /// `read(sampleInterval:)`, leaving in `memo` the rule index and the published ports it found to choose
    /// the route questions, for an evaluation of the snapshot with `rulesVersion: HostReader.rulesVersion`
    /// and the same settings (so a one-shot check indexes the rules and finds the ports once, not twice).
    public func read(sampleInterval: Duration = .zero, settings: Settings, memo: inout EvaluationMemo) async throws -> Snapshot {
        let proc = ProcReader(root: procRoot)
        var sample: DropSample?
        if sampleInterval > .zero {
            let clock = ContinuousClock()
            let start = clock.now
            let before = try proc.readIPCounters()
            try await Task.sleep(for: sampleInterval)
            let after = try proc.readIPCounters()
            sample = DropSample(from: before, to: after, seconds: (clock.now - start).seconds)
        }
        let netlink = try NetlinkDump.read()
        let state = try proc.read()
        let firewall = readFirewall ? FirewallReader().read() : nil
        var snapshot = SnapshotAssembler.assemble(netlink: netlink, proc: state, dropSample: sample, firewall: firewall)
        // sysctl.d and .network files below the same root: a recorded tree can carry them.
        snapshot.persistentSettings = PersistentSettingsReader(root: procRoot).read()
        // The kernel's own route decisions for the path walk's questions; none asked, none recorded.
        let questions = HostView(snapshot, settings: settings, memo: &memo, rulesVersion: Self.rulesVersion, walkPaths: false)
            .routeQuestions()
        if !questions.isEmpty {
            snapshot.routeDecisions = try await KernelRouteLookup.askOffPool(questions)
        }
        return snapshot
    }

    /// The rules version `read(sampleInterval:settings:memo:)` leaves its memo for.
    public static let rulesVersion = 1
}

extension FirewallReading {
    var state: FirewallState? {
        if case .state(let state) = self { return state }
        return nil
    }

    var unavailableReason: String? {
        if case .unavailable(let reason) = self { return reason }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
