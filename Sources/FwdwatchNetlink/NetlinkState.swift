import CNetlink
import FwdwatchCore

/// Everything read from rtnetlink: the netlink half of a `Snapshot`.
///
/// Arrays are kept in a canonical order (links by index, addresses by interface, routes by table and
/// destination), so two states read from the same kernel state compare equal.
public struct NetlinkState: Sendable, Equatable {
    /// One entry per ifindex: the AF_UNSPEC link object, completed with the AF_BRIDGE port state.
    public var links: [Link]
    /// IPv4 and IPv6 addresses.
    public var addresses: [Address]
    /// IPv4 routes of the main (254) and local (255) tables.
    public var routes: [Route]
    /// IPv4 netconf values by interface name, with `all` (ifindex -1) and `default` (ifindex -2).
    public var ipv4Netconf: [String: NetconfValues]
    /// IPv6 netconf `forwarding` by interface name, with `all` and `default`; empty when IPv6 is off.
    public var ipv6Forwarding: [String: Int]
    /// The IPv4 neighbour (ARP) table by interface and address, without NOARP and NONE entries. Only
    /// an entry that starts or stops failing (FAILED, INCOMPLETE) is published at once; other neighbour
    /// changes ride along with the next update (see `NeighbourChange`).
    public var neighbours: [Neighbour]

    public init(
        links: [Link] = [],
        addresses: [Address] = [],
        routes: [Route] = [],
        ipv4Netconf: [String: NetconfValues] = [:],
        ipv6Forwarding: [String: Int] = [:],
        neighbours: [Neighbour] = []
    ) {
        self.links = links
        self.addresses = addresses
        self.routes = routes
        self.ipv4Netconf = ipv4Netconf
        self.ipv6Forwarding = ipv6Forwarding
        self.neighbours = neighbours
    }
}

/// The IPv4 sysctls that rtnetlink announces (RTM_NEWNETCONF); nil when the kernel did not report one.
public struct NetconfValues: Sendable, Equatable {
    public var forwarding: Int?
    public var rpFilter: Int?

    public init(forwarding: Int? = nil, rpFilter: Int? = nil) {
        self.forwarding = forwarding
        self.rpFilter = rpFilter
    }
}

/// A failed libnl operation.
public struct NetlinkError: Error, CustomStringConvertible, Sendable {
    /// What was being done, e.g. "dumping links".
    public var operation: String
    /// The libnl return value (a negative NLE_* code), or 0 when the failure did not come from libnl.
    public var code: Int32
    /// E.g. "netlink: dumping links failed: Object not found (libnl error -12)".
    public var description: String

    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
        let reason = String(cString: nl_geterror(code))
        self.description = "netlink: \(operation) failed: \(reason) (libnl error \(code))"
    }

    public init(operation: String, reason: String) {
        self.operation = operation
        self.code = 0
        self.description = "netlink: \(operation) failed: \(reason)"
    }

    /// The overrun of a netlink socket's receive queue (ENOBUFS, which libnl reports as NLE_NOMEM).
    var isOverrun: Bool { code == -NLE_NOMEM }
}

/// What the watcher reports.
public enum NetlinkUpdate: Sendable {
    /// The state after the first full dump.
    case initial(NetlinkState)
    /// The state after live events were applied; `events` counts the netlink messages processed
    /// since the previous update.
    case changed(NetlinkState, events: Int)
    /// The state after an overrun or another recoverable error: the socket was drained and the
    /// state fully re-dumped.
    case resynced(NetlinkState, reason: String)
    /// An error the watcher could not recover from; the stream ends after it.
    case failed(String)

    /// The state this update carries, if any.
    public var state: NetlinkState? {
        switch self {
        case .initial(let state), .changed(let state, _), .resynced(let state, _): state
        case .failed: nil
        }
    }
}
