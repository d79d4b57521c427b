import FwdwatchFirewall
import FwdwatchTestFixtures
import Foundation

@testable import FwdwatchCore

/// Docker 20.10's recorded rules (container 172.17.0.2 published with `-p 10001:80`), read by the real
/// parser, with helpers to break them the way firewall reloads and operators do.
enum DockerRules {
    static let text: String = (try? RecordedFixture.text(RecordedFixture.docker2010Rules)) ?? ""

    /// The rules, less every line for which `drop` is true, plus `extra` rules placed first in their
    /// table (`(table: "filter", rule: "-A DOCKER-USER -i eth0 -j DROP")` runs before Docker's RETURN).
    static func state(
        dropping drop: (String) -> Bool = { _ in false }, inserting extra: [(table: String, rule: String)] = []
    ) -> FirewallState {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !drop($0) }
        for (table, rule) in extra {
            guard let start = lines.firstIndex(of: "*\(table)") else { continue }
            var position = start + 1
            while position < lines.count, lines[position].hasPrefix(":") { position += 1 }
            lines.insert(rule, at: position)
        }
        return IptablesSaveParser.parse(lines.joined(separator: "\n"), backend: .iptablesNFT)
    }
}

extension DockerHost {
    /// The healthy host with Docker's rules and the container 172.17.0.2 behind veth1.
    static func withRules(_ firewall: FirewallState = DockerRules.state()) -> DockerHost {
        var host = DockerHost()
        host.snapshot.firewall = firewall
        return host
    }
}
