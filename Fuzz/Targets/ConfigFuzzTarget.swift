import FwdwatchConfig
import FwdwatchCore

/// Fuzzes the configuration reader (`fwdwatch.toml`): `TOMLReader` (our own strict TOML subset reader)
/// parses, then `ConfigurationParser` checks tables and keys. A configuration that is accepted is then used:
/// its globs and severities drive an evaluation of a small Docker host.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = FuzzInput.text(data, size)
    do {
        let configuration = try ConfigurationParser.parse(text, path: "/fuzz/fwdwatch.toml")
        let evaluation = Evaluator(settings: configuration.settings).evaluate(ConfigFuzzHost.snapshot)
        _ = Report.text(evaluation)
    } catch {
        // Every rejection must be describable, naming the file and the line.
        precondition(error.description.hasPrefix("/fuzz/fwdwatch.toml:"), "error without the path: \(error)")
        precondition(error.line.map { $0 >= 1 } ?? false, "error without a line: \(error)")
        if let column = error.column { precondition(column >= 1, "error with column \(column): \(error)") }
    }
    return 0
}

/// A Docker host with the incident: enough for the rules that use globs to run.
enum ConfigFuzzHost {
    static let snapshot = Snapshot(
        links: [
            Link(index: 1, name: "lo", operState: "unknown", loopback: true, mtu: 65536),
            Link(index: 2, name: "eth0"),
            Link(index: 3, name: "docker0", kind: "bridge"),
            Link(index: 4, name: "veth0ee43ed", kind: "veth", master: 3, bridgePortState: .forwarding),
            Link(index: 5, name: "wg0", kind: "wireguard"),
        ],
        addresses: [
            Address(interfaceIndex: 2, address: "192.0.2.10", prefixLength: 24),
            Address(interfaceIndex: 3, address: "172.17.0.1", prefixLength: 16),
        ],
        routes: [
            Route(destination: "0.0.0.0/0", gateway: "192.0.2.1", outputInterface: 2),
            Route(destination: "172.17.0.0/16", outputInterface: 3),
        ],
        ipv4Conf: [
            "all": InterfaceConf(forwarding: 1, rpFilter: 2), "default": InterfaceConf(forwarding: 0, rpFilter: 1),
            "eth0": InterfaceConf(forwarding: 0, rpFilter: 1), "docker0": InterfaceConf(forwarding: 1),
            "veth0ee43ed": InterfaceConf(forwarding: 1), "wg0": InterfaceConf(forwarding: 0),
        ],
        conntrack: Conntrack(count: 950, max: 1000))
}
