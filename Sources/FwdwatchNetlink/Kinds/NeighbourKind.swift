import CNetlink
import FwdwatchCore

// The IPv4 neighbour (ARP) table: what is kept of it, and which of its changes are worth an update.
//
// Measured on kernel 6.18: the kernel announces a neighbour (RTM_NEWNEIGH) only when neigh_update or
// its timer changes it to REACHABLE, STALE or FAILED, and when it is deleted. It creates entries
// silently (NONE, INCOMPLETE, and NOARP for lo, multicast and broadcast addresses), and moves
// REACHABLE -> DELAY -> PROBE and FAILED -> INCOMPLETE silently. So the watcher's copy can only ever be
// as fine as the kernel's announcements: NOARP and NONE entries (which say nothing about an answer) are
// left out, so the watched and the dumped tables list the same entries.

/// IPv4 neighbours (RTM_NEWNEIGH, RTM_DELNEIGH of AF_INET). libnl 3.7 dumps neighbours of every family
/// or of AF_BRIDGE only (an AF_INET cache fails with NLE_INVAL): the dump brings IPv6 entries too,
/// events only IPv4 ones, and the state keeps IPv4 only.
///
/// Mirrored as a whole: the sorted table is read again from the cache when the cache changed. A change
/// no finding depends on is applied quietly (see `NeighbourChange`).
final class NeighbourKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWNEIGH), Int32(RTM_DELNEIGH)]
    let family: Int32? = RtnetlinkFamily.ipv4
    let cache: LibnlCache
    /// Nil when the cache changed since the table was read.
    private var mirror: [Neighbour]?

    init() throws {
        cache = try LibnlCache("route/neigh", family: RtnetlinkFamily.unspecified, what: "neighbours")
    }

    func rebuildMirror() { mirror = nil }

    /// `.applied` when the change can change a finding, `.appliedQuietly` otherwise.
    func outcome(ofApplying object: OpaquePointer) -> RtnetlinkEventOutcome {
        let before = cache.withCached(matching: object, Self.neighbour) ?? nil
        let after = nl_object_get_msgtype(object) == Int32(RTM_DELNEIGH) ? nil : Self.neighbour(object)
        return NeighbourChange.mattersToRules(from: before, to: after) ? .applied : .appliedQuietly
    }

    func mirror(applied object: OpaquePointer) { mirror = nil }

    func contribute(to state: inout NetlinkState) {
        if mirror == nil {
            var neighbours: [Neighbour] = []
            cache.forEach { object in
                if let neighbour = Self.neighbour(object) { neighbours.append(neighbour) }
            }
            mirror = neighbours.sorted(by: NeighbourChange.canonicalOrder)
        }
        state.neighbours = mirror ?? []
    }

    /// An IPv4 neighbour from an `rtnl_neigh`; nil for another family, a missing address, or an entry
    /// that says nothing about whether the host answers (NOARP, NONE, an unknown state).
    static func neighbour(_ object: OpaquePointer) -> Neighbour? {
        guard rtnl_neigh_get_family(object) == RtnetlinkFamily.ipv4,
            let state = LibnlObjects.neighbourState(rtnl_neigh_get_state(object)), state.answers != nil,
            let destination = rtnl_neigh_get_dst(object), let address = LibnlObjects.addressText(destination)
        else { return nil }
        let index = rtnl_neigh_get_ifindex(object)
        guard index > 0 else { return nil }
        return Neighbour(
            interfaceIndex: index, address: address, state: state,
            linkAddress: rtnl_neigh_get_lladdr(object).flatMap(LibnlObjects.linkAddressText))
    }
}

/// Which neighbour changes earn a state update of their own.
enum NeighbourChange {
    /// True when a change of one entry can change a finding: the entry starts or stops failing
    /// (enters or leaves FAILED/INCOMPLETE, or a failing entry is added or deleted). Everything else
    /// (REACHABLE <-> STALE, a new link address, an answering entry added or garbage-collected) is
    /// applied to the cache but published only with the next update that matters: it moves the
    /// target-neighbour hop between passing and undecided at most, never a finding, and an evaluation
    /// for every ARP refresh of every container and LAN neighbour would cost more than it tells.
    static func mattersToRules(from before: Neighbour?, to after: Neighbour?) -> Bool {
        isFailing(before) != isFailing(after)
    }

    /// An entry the host could not resolve: the target-neighbour hop breaks on it.
    private static func isFailing(_ entry: Neighbour?) -> Bool {
        entry?.state.answers == false
    }

    /// The canonical order of a neighbour table: by interface, then address.
    static func canonicalOrder(_ a: Neighbour, _ b: Neighbour) -> Bool {
        (a.interfaceIndex, a.address) < (b.interfaceIndex, b.address)
    }
}
