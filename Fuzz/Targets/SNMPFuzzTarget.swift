import FwdwatchProc

/// Fuzzes the `/proc` text parsers: `/proc/net/snmp`'s `Ip:` counters and the one-value sysctl files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = FuzzInput.text(data, size)
    do {
        let counters = try ProcText.ipCounters(fromSNMP: text, path: "/fuzz/proc/net/snmp")
        precondition(!counters.isEmpty, "counters accepted from a header that names none")
    } catch {
        precondition("\(error)".contains("/fuzz/proc/net/snmp"), "error without the path: \(error)")
    }
    if let value = ProcText.sysctlInt(text) { precondition(ProcText.sysctlInt(String(value)) == value) }
    if let value = ProcText.sysctlUInt64(text) { precondition(ProcText.sysctlUInt64(String(value)) == value) }
    if let line = ProcText.sysctlLine(text) { precondition(!line.isEmpty) }
    return 0
}
