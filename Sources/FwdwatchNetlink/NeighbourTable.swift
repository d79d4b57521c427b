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

extension LibnlObjects {
    /// An IPv4 neighbour from an `rtnl_neigh`; nil for another family, a missing address, or an entry
    /// that says nothing about whether the host answers (NOARP, NONE, an unknown state).
    static func neighbour(_ object: OpaquePointer) -> Neighbour? {
        guard rtnl_neigh_get_family(object) == RtnetlinkFamily.ipv4,
            let state = neighbourState(rtnl_neigh_get_state(object)), state.answers != nil,
            let destination = rtnl_neigh_get_dst(object), let address = addressText(destination)
        else { return nil }
        let index = rtnl_neigh_get_ifindex(object)
        guard index > 0 else { return nil }
        return Neighbour(
            interfaceIndex: index, address: address, state: state,
            linkAddress: rtnl_neigh_get_lladdr(object).flatMap(linkAddressText))
    }

    /// NUD_* (one state, as the kernel reports them) to the model's state; nil for anything else.
    static func neighbourState(_ value: Int32) -> NeighbourState? {
        switch value {
        case 0x01: .incomplete  // NUD_INCOMPLETE
        case 0x02: .reachable
        case 0x04: .stale
        case 0x08: .delay
        case 0x10: .probe
        case 0x20: .failed
        case 0x40: .noarp
        case 0x80: .permanent
        case 0x00: NeighbourState.none
        default: nil
        }
    }

    /// "02:42:ac:11:00:02"; nil for an empty address (an unresolved entry).
    static func linkAddressText(_ address: OpaquePointer) -> String? {
        let length = Int(nl_addr_get_len(address))
        guard length > 0, let bytes = nl_addr_get_binary_addr(address) else { return nil }
        let hex = Array("0123456789abcdef")
        return (0..<length).map { offset in
            let byte = bytes.load(fromByteOffset: offset, as: UInt8.self)
            return String([hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
        }.joined(separator: ":")
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
