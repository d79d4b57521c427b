/// An IPv4 address as a 32-bit number, parsed from dotted-quad text without any system call.
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: some StringProtocol) {
        // On the UTF-8 bytes: addresses are parsed for every rule and route, and a walk over Characters
        // (grapheme clusters) cost more than the rest of reading a rule.
        guard let value = IPv4Address.parse(text.utf8) else { return nil }
        self.value = value
    }

    /// "a.b.c.d": four decimal octets of one to three digits, each at most 255.
    static func parse(_ bytes: some Collection<UInt8>) -> UInt32? {
        var result: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var parts = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | octet
                parts += 1
                octet = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                guard digits < 3 else { return nil }
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard octet <= 255 else { return nil }
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return result << 8 | octet
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// An IPv4 prefix ("172.17.0.0/16"); the network address is normalised.
public struct IPv4Prefix: Hashable, Sendable, CustomStringConvertible {
    public var network: IPv4Address
    public var length: Int

    public init(address: IPv4Address, length: Int) {
        precondition((0...32).contains(length))
        self.length = length
        self.network = IPv4Address(address.value & IPv4Prefix.mask(length))
    }

    /// Parses "a.b.c.d/len", or "a.b.c.d" as a /32, or "default" as 0.0.0.0/0.
    public init?(_ text: some StringProtocol) {
        if text == "default" {
            self.init(address: IPv4Address(0), length: 0)
            return
        }
        let bytes = text.utf8
        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        guard let address = IPv4Address.parse(bytes[..<(slash ?? bytes.endIndex)]) else { return nil }
        var length = 32
        if let slash {
            let digits = bytes[bytes.index(after: slash)...]
            guard !digits.isEmpty, digits.count <= 2 else { return nil }
            var parsed = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                parsed = parsed * 10 + Int(byte - UInt8(ascii: "0"))
            }
            guard parsed <= 32 else { return nil }
            length = parsed
        }
        self.init(address: IPv4Address(address), length: length)
    }

    static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    public var mask: UInt32 { IPv4Prefix.mask(length) }

    public func contains(_ address: IPv4Address) -> Bool {
        address.value & mask == network.value
    }

    /// True when every address of `other` is in `self`.
    public func contains(_ other: IPv4Prefix) -> Bool {
        other.length >= length && contains(other.network)
    }

    public func overlaps(_ other: IPv4Prefix) -> Bool {
        contains(other) || other.contains(self)
    }

    public var description: String { "\(network)/\(length)" }
}
