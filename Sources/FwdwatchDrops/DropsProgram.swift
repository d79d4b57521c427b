/// The compiled BPF program (BPF/drops.bpf.c), embedded at build time by the BPFObjectPlugin.
enum DropsProgram {
    /// The ELF object's bytes, decoded once from the generated hex literal.
    static let object: [UInt8] = decode(DropsProgramObject.hex)

    static func decode(_ hex: StaticString) -> [UInt8] {
        hex.withUTF8Buffer { text in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.count / 2)
            var index = 0
            while index + 1 < text.count {
                bytes.append(nibble(text[index]) << 4 | nibble(text[index + 1]))
                index += 2
            }
            return bytes
        }
    }

    private static func nibble(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: 0
        }
    }
}
