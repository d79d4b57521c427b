import CNetlink
import FwdwatchCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Field-level conversions shared by the object kinds (`Kinds/`), which turn whole libnl objects into
// the model's values. Every function here only reads what it is given; no libnl pointer survives the
// call.

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
