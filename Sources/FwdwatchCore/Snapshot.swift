/// Everything the health rules look at, read in one pass from the host (or from a recorded JSON file).
///
/// A `Snapshot` is a plain value: the readers at the edges fill it, the rules only read it.
/// Its JSON form (sorted keys) is the format of `fwdwatch snapshot` and of the test fixtures.
public struct Snapshot: Codable, Sendable, Equatable {
    /// Bumped when a field changes meaning; readers reject versions they do not know.
    public static let currentFormat = 1

    public var format: Int
    /// Host name, for bug reports only.
    public var hostname: String?
    public var links: [Link]
    public var addresses: [Address]
    /// IPv4 routes of the main table, and the local table's entries.
    public var routes: [Route]
    /// `/proc/sys/net/ipv4/conf/<name>/*`, keyed by interface name, with `all` and `default`.
    public var ipv4Conf: [String: InterfaceConf]
    /// `/proc/sys/net/ipv6/conf/<name>/forwarding`, keyed by interface name, with `all` and `default`.
    public var ipv6Forwarding: [String: Int]
    /// `/proc/sys/net/bridge/bridge-nf-call-*`; nil when br_netfilter is not loaded.
    public var bridgeNetfilter: BridgeNetfilter?
    /// nf_conntrack count and max; nil when conntrack is not loaded.
    public var conntrack: Conntrack?
    /// The `Ip:` counters of `/proc/net/snmp` (InAddrErrors, ForwDatagrams, ...).
    public var ipCounters: [String: UInt64]
    /// Growth of the drop counters over a sampling interval, when the reader took two readings.
    public var dropSample: DropSample?
    /// The netfilter rules (nat and filter tables of every backend); nil when they were not read.
    public var firewall: FirewallState?
    /// Why the rules could not be read (no CAP_NET_ADMIN, no tools); the published-port checks are off.
    public var firewallUnavailable: String?
    /// The IPv4 neighbour (ARP) table; nil when it was not read.
    public var neighbours: [Neighbour]?
    /// The kernel's own input route decisions for the questions the path walk asks
    /// (`HostView.routeQuestions`); nil when the kernel was not asked (the hand model decides).
    public var routeDecisions: [RouteDecision]?
    /// Configuration lines that set per-interface `forwarding` / `rp_filter` at boot or when an interface
    /// appears (sysctl.d, networkd); nil when they were not read.
    public var persistentSettings: [PersistentSetting]?
    /// The packets the kernel dropped on their way to the published ports and elsewhere, as the drop probe
    /// (a BPF program, `[drops] enabled = true`) counted them over an interval; nil when not observed.
    public var drops: DropReading?

    public init(
        format: Int = Snapshot.currentFormat,
        hostname: String? = nil,
        links: [Link] = [],
        addresses: [Address] = [],
        routes: [Route] = [],
        ipv4Conf: [String: InterfaceConf] = [:],
        ipv6Forwarding: [String: Int] = [:],
        bridgeNetfilter: BridgeNetfilter? = nil,
        conntrack: Conntrack? = nil,
        ipCounters: [String: UInt64] = [:],
        dropSample: DropSample? = nil,
        firewall: FirewallState? = nil,
        firewallUnavailable: String? = nil,
        neighbours: [Neighbour]? = nil,
        routeDecisions: [RouteDecision]? = nil,
        persistentSettings: [PersistentSetting]? = nil,
        drops: DropReading? = nil
    ) {
        self.format = format
        self.hostname = hostname
        self.links = links
        self.addresses = addresses
        self.routes = routes
        self.ipv4Conf = ipv4Conf
        self.ipv6Forwarding = ipv6Forwarding
        self.bridgeNetfilter = bridgeNetfilter
        self.conntrack = conntrack
        self.ipCounters = ipCounters
        self.dropSample = dropSample
        self.firewall = firewall
        self.firewallUnavailable = firewallUnavailable
        self.neighbours = neighbours
        self.routeDecisions = routeDecisions
        self.persistentSettings = persistentSettings
        self.drops = drops
    }
}

/// A network interface as rtnetlink reports it.
public struct Link: Codable, Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// IFLA_INFO_KIND: "bridge", "veth", "bond", "vlan", ...; nil for physical NICs and loopback.
    public var kind: String?
    /// IFF_UP: the administrator's wish.
    public var adminUp: Bool
    /// IFLA_OPERSTATE as text: "up", "down", "lowerlayerdown", "unknown", ...
    public var operState: String
    public var carrier: Bool
    /// IFF_LOOPBACK.
    public var loopback: Bool
    /// The ifindex of the bridge (or bond) this link is enslaved to.
    public var master: Int32?
    public var mtu: UInt32
    /// For a bridge port: its STP state.
    public var bridgePortState: BridgePortState?

    public init(
        index: Int32, name: String, kind: String? = nil, adminUp: Bool = true, operState: String = "up",
        carrier: Bool = true, loopback: Bool = false, master: Int32? = nil, mtu: UInt32 = 1500,
        bridgePortState: BridgePortState? = nil
    ) {
        self.index = index
        self.name = name
        self.kind = kind
        self.adminUp = adminUp
        self.operState = operState
        self.carrier = carrier
        self.loopback = loopback
        self.master = master
        self.mtu = mtu
        self.bridgePortState = bridgePortState
    }

    public var isBridge: Bool { kind == "bridge" }
}

/// The STP state of a bridge port (BR_STATE_*).
public enum BridgePortState: String, Codable, Sendable, Equatable {
    case disabled, listening, learning, forwarding, blocking
}

public enum AddressFamily: String, Codable, Sendable, Equatable {
    case ipv4, ipv6
}

public struct Address: Codable, Sendable, Equatable {
    public var interfaceIndex: Int32
    public var family: AddressFamily
    /// The address without prefix length, e.g. "172.17.0.1".
    public var address: String
    public var prefixLength: Int

    public init(interfaceIndex: Int32, family: AddressFamily = .ipv4, address: String, prefixLength: Int) {
        self.interfaceIndex = interfaceIndex
        self.family = family
        self.address = address
        self.prefixLength = prefixLength
    }
}

public struct Route: Codable, Sendable, Equatable {
    /// "172.17.0.0/16", "0.0.0.0/0" for the default route.
    public var destination: String
    public var gateway: String?
    /// Output interface; nil for blackhole/unreachable routes.
    public var outputInterface: Int32?
    public var metric: UInt32
    /// RTN_* as text: "unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", ...
    public var type: String
    /// 254 = main, 255 = local.
    public var table: UInt32

    public init(
        destination: String, gateway: String? = nil, outputInterface: Int32?, metric: UInt32 = 0,
        type: String = "unicast", table: UInt32 = Route.mainTable
    ) {
        self.destination = destination
        self.gateway = gateway
        self.outputInterface = outputInterface
        self.metric = metric
        self.type = type
        self.table = table
    }

    public static let mainTable: UInt32 = 254
    public static let localTable: UInt32 = 255
}

/// The per-interface IPv4 sysctls the rules use. A value is nil when it could not be read.
public struct InterfaceConf: Codable, Sendable, Equatable {
    public var forwarding: Int?
    public var rpFilter: Int?
    public var routeLocalnet: Int?
    public var bcForwarding: Int?
    public var proxyArp: Int?
    public var acceptLocal: Int?

    public init(
        forwarding: Int? = nil, rpFilter: Int? = nil, routeLocalnet: Int? = nil, bcForwarding: Int? = nil,
        proxyArp: Int? = nil, acceptLocal: Int? = nil
    ) {
        self.forwarding = forwarding
        self.rpFilter = rpFilter
        self.routeLocalnet = routeLocalnet
        self.bcForwarding = bcForwarding
        self.proxyArp = proxyArp
        self.acceptLocal = acceptLocal
    }
}

public struct BridgeNetfilter: Codable, Sendable, Equatable {
    public var callIptables: Int?
    public var callIp6tables: Int?
    public var callArptables: Int?

    public init(callIptables: Int? = nil, callIp6tables: Int? = nil, callArptables: Int? = nil) {
        self.callIptables = callIptables
        self.callIp6tables = callIp6tables
        self.callArptables = callArptables
    }
}

public struct Conntrack: Codable, Sendable, Equatable {
    public var count: UInt64
    public var max: UInt64

    public init(count: UInt64, max: UInt64) {
        self.count = count
        self.max = max
    }
}

/// How much the silent-drop counters grew between two readings.
public struct DropSample: Codable, Sendable, Equatable {
    public var seconds: Double
    /// Growth of `Ip: InAddrErrors`: packets the kernel dropped, among them those arriving on an
    /// interface with forwarding=0.
    public var inAddrErrors: UInt64
    /// Growth of `Ip: ForwDatagrams`.
    public var forwDatagrams: UInt64

    public init(seconds: Double, inAddrErrors: UInt64, forwDatagrams: UInt64) {
        self.seconds = seconds
        self.inAddrErrors = inAddrErrors
        self.forwDatagrams = forwDatagrams
    }

    /// Computes the growth between two counter readings; nil when they cannot be compared
    /// (no interval, or a counter went backwards, as after a namespace change).
    public init?(from before: [String: UInt64], to after: [String: UInt64], seconds: Double) {
        guard seconds > 0,
            let e0 = before["InAddrErrors"], let e1 = after["InAddrErrors"], e1 >= e0
        else { return nil }
        let f0 = before["ForwDatagrams"] ?? 0
        let f1 = after["ForwDatagrams"] ?? 0
        self.init(seconds: seconds, inAddrErrors: e1 - e0, forwDatagrams: f1 >= f0 ? f1 - f0 : 0)
    }

    public var inAddrErrorsPerSecond: Double { Double(inAddrErrors) / seconds }
}

/// An IPv4 neighbour (ARP) entry: whether the host on `address` answers on the interface.
public struct Neighbour: Codable, Sendable, Equatable {
    public var interfaceIndex: Int32
    /// "172.17.0.2".
    public var address: String
    public var state: NeighbourState
    /// The hardware address the host answered with; nil while unresolved (INCOMPLETE, FAILED).
    public var linkAddress: String?

    public init(interfaceIndex: Int32, address: String, state: NeighbourState, linkAddress: String? = nil) {
        self.interfaceIndex = interfaceIndex
        self.address = address
        self.state = state
        self.linkAddress = linkAddress
    }
}

/// The kernel's neighbour unreachability detection state (NUD_*), in lower case.
public enum NeighbourState: String, Codable, Sendable, Equatable, CaseIterable {
    case incomplete, reachable, stale, delay, probe, failed, noarp, permanent, none

    /// Whether the host answered: true once it has (reachable, stale, delay, probe, permanent); false
    /// while resolution is failing (incomplete: no answer yet; failed: no answer to any probe); nil
    /// when ARP says nothing about it (noarp, none).
    public var answers: Bool? {
        switch self {
        case .reachable, .stale, .delay, .probe, .permanent: true
        case .incomplete, .failed: false
        case .noarp, .none: nil
        }
    }
}
