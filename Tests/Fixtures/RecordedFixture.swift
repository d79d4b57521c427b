import Foundation

/// The recorded fixtures every test target shares, copied into this module's bundle by SwiftPM (`resources:` in
/// Package.swift) and found through `Bundle.module`, wherever the tests run from:
///
/// - `firewall/`: real `iptables-save -c` and `nft -j` output (see its README and record.sh);
/// - `proc-docker-host/`: the incident's Docker host as a `/proc` tree (`--proc-root`);
/// - `stacks/`: the healthy host of every container/VM stack, its rule sets and `host.json` (see its README).
///
/// The golden snapshots are not here: the real binary reads them by path and `UPDATE_EXPECTED=1` rewrites their
/// expected reports in the source tree (Tests/FwdwatchIntegrationTests/Golden, through `GoldenCase`).
package enum RecordedFixture {
    /// The bundle's copy of Tests/Fixtures.
    package static let root: URL = {
        guard let resources = Bundle.module.resourceURL else {
            fatalError("the FwdwatchTestFixtures bundle has no resources (was it built with SwiftPM?)")
        }
        return resources
    }()

    /// The file or directory at `relative` ("firewall/nft-vmaps.json", "stacks/docker-20.10").
    package static func url(_ relative: String) -> URL {
        root.appendingPathComponent(relative)
    }

    /// Its path, for a tool that reads the file itself (`nft -f`, `iptables-restore`, `--proc-root`).
    package static func path(_ relative: String) -> String {
        url(relative).path
    }

    /// A text fixture's contents.
    package static func text(_ relative: String) throws -> String {
        try String(contentsOf: url(relative), encoding: .utf8)
    }

    /// Docker 20.10's `iptables-save` (container 172.17.0.2 published with `-p 10001:80`), recorded from the real
    /// engine: the rule set most tests start from.
    package static let docker2010Rules = "stacks/docker-20.10/iptables-save.txt"
}
