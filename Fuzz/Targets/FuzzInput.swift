/// Shared by every fuzz target: how libFuzzer's bytes become the text a parser sees.
///
/// Compiled into each fuzz binary next to one target file (see Fuzz/README.md).
enum FuzzInput {
    /// The bytes libFuzzer passes, as a buffer (empty when `size` is 0, where `data` may be any pointer).
    static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
        guard let data, size > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: data, count: size)
    }

    /// The bytes decoded as UTF-8, invalid sequences repaired, as every reader of outside text does
    /// (`String(decoding:as:)`).
    static func text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String {
        String(decoding: bytes(data, size), as: UTF8.self)
    }
}
