import FwdwatchCore

/// The values `ProcReader` gathers from one proc tree in one pass.
public struct ProcState: Sendable, Equatable {
    /// `proc/sys/net/ipv4/conf/<name>/*` for every directory there: `all`, `default` and each interface.
    public var ipv4Conf: [String: InterfaceConf]
    /// `proc/sys/net/ipv6/conf/<name>/forwarding`; empty when IPv6 is absent. Unreadable values are left out.
    public var ipv6Forwarding: [String: Int]
    /// `proc/sys/net/bridge/bridge-nf-call-*`; nil when that directory is absent (br_netfilter not loaded).
    public var bridgeNetfilter: BridgeNetfilter?
    /// `proc/sys/net/netfilter/nf_conntrack_{count,max}`; nil when either is absent or unreadable.
    public var conntrack: Conntrack?
    /// The `Ip:` counters of `proc/net/snmp`, by name.
    public var ipCounters: [String: UInt64]
    /// `proc/sys/kernel/hostname`; nil when absent or empty.
    public var hostname: String?

    public init(
        ipv4Conf: [String: InterfaceConf] = [:],
        ipv6Forwarding: [String: Int] = [:],
        bridgeNetfilter: BridgeNetfilter? = nil,
        conntrack: Conntrack? = nil,
        ipCounters: [String: UInt64] = [:],
        hostname: String? = nil
    ) {
        self.ipv4Conf = ipv4Conf
        self.ipv6Forwarding = ipv6Forwarding
        self.bridgeNetfilter = bridgeNetfilter
        self.conntrack = conntrack
        self.ipCounters = ipCounters
        self.hostname = hostname
    }
}
