import CNetlink
import FwdwatchCore

/// IPv4 and IPv6 addresses (RTM_NEWADDR, RTM_DELADDR of every family).
///
/// Mirrored as a whole: the sorted list is read again from the cache when the cache changed.
final class AddressKind: RtnetlinkObjectKind {
    let messageTypes = [Int32(RTM_NEWADDR), Int32(RTM_DELADDR)]
    let family: Int32? = nil
    let cache: LibnlCache
    /// Nil when the cache changed since the list was read.
    private var mirror: [Address]?

    init() throws {
        cache = try LibnlCache("route/addr", family: RtnetlinkFamily.unspecified, what: "addresses")
    }

    func rebuildMirror() { mirror = nil }

    func mirror(applied object: OpaquePointer) { mirror = nil }

    func contribute(to state: inout NetlinkState) {
        if mirror == nil {
            var addresses: [Address] = []
            cache.forEach { object in
                if let address = Self.address(object) { addresses.append(address) }
            }
            mirror = addresses.sorted(by: Self.canonicalOrder)
        }
        state.addresses = mirror ?? []
    }

    static func address(_ object: OpaquePointer) -> Address? {
        let family: AddressFamily
        switch rtnl_addr_get_family(object) {
        case RtnetlinkFamily.ipv4: family = .ipv4
        case RtnetlinkFamily.ipv6: family = .ipv6
        default: return nil
        }
        guard let local = rtnl_addr_get_local(object), let text = LibnlObjects.addressText(local) else { return nil }
        return Address(
            interfaceIndex: rtnl_addr_get_ifindex(object),
            family: family,
            address: text,
            prefixLength: Int(rtnl_addr_get_prefixlen(object))
        )
    }

    /// By interface, IPv4 before IPv6, then address and prefix length.
    static func canonicalOrder(_ a: Address, _ b: Address) -> Bool {
        (a.interfaceIndex, a.family == .ipv4 ? 0 : 1, a.address, a.prefixLength)
            < (b.interfaceIndex, b.family == .ipv4 ? 0 : 1, b.address, b.prefixLength)
    }
}
