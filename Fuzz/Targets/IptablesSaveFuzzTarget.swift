import FwdwatchCore
import FwdwatchFirewall

/// Fuzzes the `iptables-save` reader (with and without `-c` counters) and the published-port view the
/// rules take of its result.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIptablesSave(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = FuzzInput.text(data, size)
    for backend in [FirewallBackend.iptablesNFT, .iptablesLegacy] {
        let state = IptablesSaveParser.parse(text, backend: backend)
        FirewallFuzzUse.use(state)
    }
    return 0
}
