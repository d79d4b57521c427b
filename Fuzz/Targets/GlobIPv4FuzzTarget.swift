import FwdwatchCore

/// Fuzzes the core's own parsers of operator and kernel text: interface globs (`[interfaces] ignore`)
/// and IPv4 addresses and prefixes (routes and addresses of snapshots).
///
/// Input: the first line is a glob pattern, the second an interface name (cut to 15 bytes, the kernel's
/// IFNAMSIZ limit, as names come from the kernel), every line is also parsed as an address and a prefix.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGlobAndIPv4(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = FuzzInput.text(data, size)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    let pattern = lines.first.map(String.init) ?? ""
    let name = String(decoding: (lines.dropFirst().first.map(String.init) ?? "").utf8.prefix(15), as: UTF8.self)
    let glob = Glob(pattern)
    _ = glob.problem
    let matched = glob.matches(name)
    if pattern == name && glob.problem == nil && !pattern.contains(where: { "*?[".contains($0) }) {
        precondition(matched, "a pattern without wildcards does not match itself")
    }
    if pattern == "*" { precondition(matched, "'*' does not match \(name)") }

    for line in lines {
        if let address = IPv4Address(line) {
            precondition(IPv4Address(address.description) == address, "address round trip: \(line)")
        }
        if let prefix = IPv4Prefix(line) {
            precondition((0...32).contains(prefix.length))
            precondition(IPv4Prefix(prefix.description) == prefix, "prefix round trip: \(line)")
            precondition(prefix.contains(prefix.network))
            precondition(prefix.contains(prefix) && prefix.overlaps(prefix))
        }
    }
    return 0
}
