import CNetlink
import FwdwatchCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Copies values out of libnl objects into the model's value types. Every function here only reads
// the object it is given; no libnl pointer survives the call.

/// Address families as rtnetlink numbers them.
enum RtnetlinkFamily {
    static let unspecified: Int32 = 0  // AF_UNSPEC
    static let ipv4: Int32 = 2  // AF_INET
    static let bridge: Int32 = 7  // AF_BRIDGE
    static let ipv6: Int32 = 10  // AF_INET6
}

/// `net_device_flags` bits used here.
enum InterfaceFlags {
    static let up: UInt32 = 0x1  // IFF_UP
    static let loopback: UInt32 = 0x8  // IFF_LOOPBACK
}

/// The netconf pseudo-interfaces.
enum NetconfIndex {
    static let all: Int32 = -1  // NETCONFA_IFINDEX_ALL
    static let `default`: Int32 = -2  // NETCONFA_IFINDEX_DEFAULT
}

enum LibnlObjects {
    /// A link from an AF_UNSPEC `rtnl_link`; the bridge port state is added by the caller.
    static func link(_ object: OpaquePointer) -> Link? {
        let index = rtnl_link_get_ifindex(object)
        guard index > 0, let namePointer = rtnl_link_get_name(object) else { return nil }
        let flags = rtnl_link_get_flags(object)
        let master = rtnl_link_get_master(object)
        return Link(
            index: index,
            name: String(cString: namePointer),
            kind: rtnl_link_get_type(object).map { String(cString: $0) },
            adminUp: flags & InterfaceFlags.up != 0,
            operState: operState(rtnl_link_get_operstate(object)),
            carrier: rtnl_link_get_carrier(object) != 0,
            loopback: flags & InterfaceFlags.loopback != 0,
            master: master > 0 ? master : nil,
            mtu: rtnl_link_get_mtu(object)
        )
    }

    /// The STP state of a bridge port, from its AF_BRIDGE `rtnl_link` (IFLA_PROTINFO); nil for the
    /// bridge itself and for anything that is not a port.
    static func bridgePort(_ object: OpaquePointer) -> (index: Int32, state: BridgePortState)? {
        let index = rtnl_link_get_ifindex(object)
        let master = rtnl_link_get_master(object)
        guard index > 0, master > 0, master != index else { return nil }
        let state: BridgePortState
        switch rtnl_link_bridge_get_port_state(object) {
        case 0: state = .disabled  // BR_STATE_DISABLED
        case 1: state = .listening
        case 2: state = .learning
        case 3: state = .forwarding
        case 4: state = .blocking
        default: return nil
        }
        return (index, state)
    }

    static func address(_ object: OpaquePointer) -> Address? {
        let family: AddressFamily
        switch rtnl_addr_get_family(object) {
        case RtnetlinkFamily.ipv4: family = .ipv4
        case RtnetlinkFamily.ipv6: family = .ipv6
        default: return nil
        }
        guard let local = rtnl_addr_get_local(object), let text = addressText(local) else { return nil }
        return Address(
            interfaceIndex: rtnl_addr_get_ifindex(object),
            family: family,
            address: text,
            prefixLength: Int(rtnl_addr_get_prefixlen(object))
        )
    }

    /// An IPv4 route of table main or local; nil for anything else.
    static func route(_ object: OpaquePointer) -> Route? {
        guard Int32(rtnl_route_get_family(object)) == RtnetlinkFamily.ipv4 else { return nil }
        let table = rtnl_route_get_table(object)
        guard table == Route.mainTable || table == Route.localTable else { return nil }
        let prefixLength: UInt32
        let destination: String
        if let dst = rtnl_route_get_dst(object) {
            prefixLength = nl_addr_get_prefixlen(dst)
            guard let text = addressText(dst, family: RtnetlinkFamily.ipv4) else { return nil }
            destination = text
        } else {
            prefixLength = 0
            destination = "0.0.0.0"
        }
        var gateway: String?
        var outputInterface: Int32?
        if rtnl_route_get_nnexthops(object) > 0, let nexthop = rtnl_route_nexthop_n(object, 0) {
            if let via = rtnl_route_nh_get_gateway(nexthop) {
                gateway = addressText(via)
            }
            let ifindex = rtnl_route_nh_get_ifindex(nexthop)
            outputInterface = ifindex > 0 ? ifindex : nil
        }
        return Route(
            destination: "\(destination)/\(prefixLength)",
            gateway: gateway,
            outputInterface: outputInterface,
            metric: rtnl_route_get_priority(object),
            type: routeType(rtnl_route_get_type(object)),
            table: table
        )
    }

    /// One netconf object: (family, ifindex, values).
    static func netconf(_ object: OpaquePointer) -> (family: Int32, index: Int32, values: NetconfValues)? {
        var family: Int32 = 0
        var index: Int32 = 0
        guard rtnl_netconf_get_family(object, &family) == 0, rtnl_netconf_get_ifindex(object, &index) == 0
        else { return nil }
        var value: Int32 = 0
        var values = NetconfValues()
        if rtnl_netconf_get_forwarding(object, &value) == 0 { values.forwarding = Int(value) }
        if rtnl_netconf_get_rp_filter(object, &value) == 0 { values.rpFilter = Int(value) }
        return (family, index, values)
    }

    /// "up", "down", "lowerlayerdown", "unknown", ... (IF_OPER_*).
    static func operState(_ state: UInt8) -> String {
        var buffer = [CChar](repeating: 0, count: 32)
        let text = buffer.withUnsafeMutableBufferPointer { pointer -> String in
            guard let result = rtnl_link_operstate2str(state, pointer.baseAddress, pointer.count) else {
                return "unknown"
            }
            return String(cString: result)
        }
        return text.isEmpty ? "unknown" : text.lowercased()
    }

    /// "unicast", "local", "broadcast", "blackhole", ... (RTN_*).
    static func routeType(_ type: UInt8) -> String {
        var buffer = [CChar](repeating: 0, count: 32)
        let text = buffer.withUnsafeMutableBufferPointer { pointer -> String in
            guard let result = nl_rtntype2str(Int32(type), pointer.baseAddress, pointer.count) else {
                return ""
            }
            return String(cString: result)
        }
        return text.isEmpty ? "type\(type)" : text
    }

    /// The text of an `nl_addr` without prefix length. A zero-length address (the default route's
    /// missing RTA_DST) reads as the family's all-zero address.
    static func addressText(_ address: OpaquePointer, family requested: Int32? = nil) -> String? {
        let family = requested ?? nl_addr_get_family(address)
        let width: Int
        switch family {
        case RtnetlinkFamily.ipv4: width = 4
        case RtnetlinkFamily.ipv6: width = 16
        default: return nil
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        let length = min(Int(nl_addr_get_len(address)), width)
        if length > 0, let source = nl_addr_get_binary_addr(address) {
            for offset in 0..<length {
                bytes[offset] = source.load(fromByteOffset: offset, as: UInt8.self)
            }
        }
        var text = [CChar](repeating: 0, count: 64)
        let ok = text.withUnsafeMutableBufferPointer { textPointer in
            bytes.withUnsafeBytes { bytesPointer in
                inet_ntop(family, bytesPointer.baseAddress, textPointer.baseAddress, socklen_t(textPointer.count))
                    != nil
            }
        }
        guard ok else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
