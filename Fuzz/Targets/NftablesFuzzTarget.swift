import FwdwatchCore
import FwdwatchFirewall

/// Fuzzes the `nft -j list ruleset` reader, with and without tables excluded (as when iptables-nft
/// already listed them).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNftables(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = FuzzInput.text(data, size)
    FirewallFuzzUse.use(NftablesRulesetParser.parse(text))
    FirewallFuzzUse.use(NftablesRulesetParser.parse(text, excluding: ["ip filter", "ip nat", "inet filter"]))
    return 0
}
