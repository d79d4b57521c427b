import Foundation
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchTestFixtures
import Testing

/// A recorded rule set (Tests/Fixtures/firewall/NAME).
private func fixture(_ name: String) throws -> String {
    try RecordedFixture.text("firewall/" + name)
}

/// The tables without what differs between a fixture and a live reading: line numbers (the live output
/// has header comments) and counters.
private func shape(_ tables: [FirewallTable]) -> [FirewallTable] {
    tables.map { table in
        var table = table
        for name in table.chainOrder {
            guard var chain = table.chains[name] else { continue }
            chain.counters = nil
            chain.rules = chain.rules.map { rule in
                var rule = rule
                rule.counters = nil
                rule.origin.line = nil
                return rule
            }
            table.chains[name] = chain
        }
        return table
    }
}

/// FirewallReader run on a thread inside a namespace the test built and filled with Docker's rules.
@Suite("FirewallReader in network namespaces", .enabled(if: isRoot, rootRequired), .serialized)
struct FirewallReaderNamespaceTests {
    /// Reads the namespace's firewall from a thread that joined it; the tools it spawns inherit the namespace.
    private func read(in namespace: NetworkNamespace) throws -> FirewallState {
        let reading = try namespace.onThreadInside { FirewallReader().read() }
        guard case .state(let state) = reading else {
            Issue.record("expected rules, got \(reading)")
            throw CancellationError()
        }
        return state
    }

    /// One TCP connection attempt from the namespace to its own published port: nat OUTPUT -> DNAT.
    private func knock(_ namespace: NetworkNamespace) throws {
        try namespace.ip(["address", "add", "192.0.2.10/32", "dev", "lo"])
        try namespace.exec(
            ["timeout", "1", "bash", "-c", "echo > /dev/tcp/192.0.2.10/10001"], timeout: .seconds(10), check: false)
    }

    @Test("iptables-nft: Docker 20.10's rules restored in a namespace read back as recorded, with live counters")
    func iptablesNFT() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        let rules = try RecordedFixture.text(RecordedFixture.docker2010Rules)
        try namespace.exec(["iptables-nft-restore"], input: rules)
        // A chain only this namespace has: proves the reading is the namespace's, not the test process's.
        let marker = "FWT-\(randomSuffix())"
        try namespace.exec(["iptables-nft", "-t", "filter", "-N", marker])
        try knock(namespace)

        let state = try read(in: namespace)
        #expect(state.problems == [])
        #expect(state.backends == [.iptablesNFT], "no legacy tables, the nft tables are iptables-nft's own")
        let filter = try #require(state.table(.ip, "filter"))
        #expect(filter.chains[marker] == FirewallChain(name: marker, counters: Counters(packets: 0, bytes: 0)))

        var expected = IptablesSaveParser.parse(rules, backend: .iptablesNFT).tables
        expected[0].add(FirewallChain(name: marker))
        #expect(shape(state.tables) == shape(expected))
        #expect(state.forwardPolicy == .drop)
        let dnat = try #require(state.natRules.last)
        #expect(dnat.rule.target == .dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80))))
        #expect((dnat.rule.counters?.packets ?? 0) >= 1, "the connection attempt went through the DNAT rule")
    }

    @Test("iptables-legacy: the same rules through the legacy backend are read and labelled legacy")
    func iptablesLegacy() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        let rules = try RecordedFixture.text("stacks/docker-20.10/iptables-save-userland-proxy-false.txt")
        let restored = try namespace.exec(["iptables-legacy-restore"], check: false, input: rules)
        try #require(restored.succeeded, "legacy backend unusable here: \(restored.stderr)")
        try knock(namespace)

        let state = try read(in: namespace)
        #expect(state.problems == [])
        #expect(state.backends == [.iptablesLegacy])
        let expected = IptablesSaveParser.parse(rules, backend: .iptablesLegacy).tables
        // iptables-legacy-save lists tables in kernel order (nat before filter here): compare by name.
        #expect(shape(state.tables).sorted { $0.name < $1.name } == shape(expected).sorted { $0.name < $1.name })
        let dnat = try #require(state.natRules.last)
        #expect(dnat.rule.match.inInterface == nil)
        #expect((dnat.rule.counters?.packets ?? 0) >= 1)
    }

    @Test("native nftables: Docker's rules as an nft table read back as recorded")
    func nativeNftables() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        try namespace.exec(["nft", "-f", RecordedFixture.path("firewall/docker-bridges.nft")])
        try knock(namespace)

        let state = try read(in: namespace)
        #expect(state.problems == [])
        #expect(state.backends == [.nftables])
        let recorded = NftablesRulesetParser.parse(try fixture("nft-docker-bridges.json"))
        #expect(shape(state.tables) == shape(recorded.tables))
        let dnat = try #require(state.natRules.last)
        #expect(dnat.table == TableID(backend: .nftables, family: .ip, name: "docker-bridges"))
        #expect((dnat.rule.counters?.packets ?? 0) >= 1)
        #expect(state.forwardPolicy == .drop)
    }

    @Test("iptables-nft and a native table side by side: each read once, by its own tool")
    func mixed() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        try namespace.exec(["iptables-nft-restore"], input: try RecordedFixture.text(RecordedFixture.docker2010Rules))
        try namespace.exec(["nft", "-f", RecordedFixture.path("firewall/docker-bridges.nft")])

        let state = try read(in: namespace)
        #expect(state.problems == [], "iptables-nft's xt expressions must not be parsed as native rules")
        #expect(state.tables.map(\.id.description) == [
            "iptables-nft ip filter", "iptables-nft ip nat", "nftables ip docker-bridges",
        ])
        #expect(state.baseChains(hook: .forward).map(\.chain.name) == ["FORWARD", "filter-FORWARD"])
        #expect(state.natRules.filter { if case .dnat = $0.rule.target { true } else { false } }.count == 2)
    }

    @Test("the kernel's table list (NFT_MSG_GETTABLE) gives the same reading as nft -j list tables")
    func kernelTableListing() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        try namespace.exec(["iptables-nft-restore"], input: try RecordedFixture.text(RecordedFixture.docker2010Rules))
        try namespace.exec(["nft", "-f", RecordedFixture.path("firewall/docker-bridges.nft")])
        try namespace.exec(["nft", "add table inet fwtextra; add chain inet fwtextra passing { type filter hook forward priority 10; policy accept; }"])
        let kernel = try namespace.onThreadInside { FirewallReader(tableListing: .kernel).read() }
        let tool = try namespace.onThreadInside { FirewallReader(tableListing: .nft).read() }
        #expect(kernel == tool)
        guard case .state(let state) = kernel else {
            Issue.record("expected a reading, got \(kernel)")
            return
        }
        #expect(state.tables.map(\.id.description) == [
            "iptables-nft ip filter", "iptables-nft ip nat", "nftables ip docker-bridges", "nftables inet fwtextra",
        ])
    }

    @Test("an empty namespace has no rules: no tables, no problems")
    func empty() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-fw")
        defer { namespace.delete() }
        let state = try read(in: namespace)
        #expect(state == FirewallState())
        #expect(state.forwardPolicy == nil)
    }
}

/// The reader's failure paths, with stand-in tools in a scratch directory.
@Suite("FirewallReader failure paths", .serialized)
struct FirewallReaderFailureTests {
    /// A directory of executable scripts named like the tools.
    private final class FakeTools {
        let directory: String

        init(_ scripts: [String: String]) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-tools-\(randomSuffix())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, body) in scripts {
                let path = directory + "/" + name
                try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test("without CAP_NET_ADMIN the reading is unavailable, with the reason", .enabled(if: isRoot, "needs root to drop privileges with setpriv"))
    func withoutCapability() throws {
        let drop = "exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
        let tools = try FakeTools([
            "iptables-save": "\(drop) /usr/sbin/iptables-save \"$@\"",
            "nft": "\(drop) /usr/sbin/nft \"$@\"",
        ])
        let reading = FirewallReader(toolDirectories: [tools.directory], tableListing: .nft).read()
        guard case .unavailable(let reason) = reading else {
            Issue.record("expected unavailable, got \(reading)")
            return
        }
        #expect(reason.hasPrefix(FirewallReader.needsCapability))
        #expect(reason.contains("Permission denied") || reason.contains("Operation not permitted"), "\(reason)")
    }

    @Test(
        "as the unit runs it (not root, CAP_NET_ADMIN only): nft reads, a refused iptables-legacy-save is a problem, not unavailability",
        .enabled(if: isRoot, "needs root to change user with setpriv"))
    func dynamicUserWithCapability() throws {
        // An empty namespace: no rules at all, which must read as "no rules", not as "cannot read".
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let keep =
            "exec ip netns exec \(namespace.name) setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_admin --ambient-caps=+net_admin"
        let tools = try FakeTools([
            "iptables-legacy-save": "\(keep) /usr/sbin/iptables-legacy-save \"$@\"",
            "nft": "\(keep) /usr/sbin/nft \"$@\"",
        ])
        // Make sure the legacy names file exists, as on any host where iptables-legacy was ever used:
        // it is root-only (0440), which CAP_NET_ADMIN does not open.
        _ = try? Shell.run(["modprobe", "ip_tables"], check: false)
        let reading = FirewallReader(toolDirectories: [tools.directory], tableListing: .nft).read()
        guard case .state(let state) = reading else {
            Issue.record("expected the nft reading to stand, got \(reading)")
            return
        }
        #expect(state.tables.isEmpty)
        if FileManager.default.fileExists(atPath: "/proc/net/ip_tables_names") {
            #expect(state.problems.contains { $0.contains("Permission denied") }, "\(state.problems)")
        }
    }

    @Test("no tools at all: unavailable")
    func noTools() throws {
        let tools = try FakeTools([:])
        #expect(FirewallReader(toolDirectories: [tools.directory]).read()
            == .unavailable(reason: "neither iptables-save nor nft is installed; NAT checks are off"))
    }

    @Test("a tool that hangs is killed at the deadline, one that floods at the size limit; others still count")
    func boundedTools() throws {
        let tools = try FakeTools([
            "iptables-save": """
                case "$1" in -V) echo "iptables-save v1.8.9 (nf_tables)";; *) exec yes "[0:0] -A FORWARD -j ACCEPT";; esac
                """,
            "nft": "exec sleep 30",
        ])
        let reader = FirewallReader(
            toolDirectories: [tools.directory], runner: ToolRunner(timeout: .milliseconds(500), outputLimit: 1 << 20),
            tableListing: .nft)
        let started = ContinuousClock.now
        let reading = reader.read()
        #expect(ContinuousClock.now - started < .seconds(4))
        guard case .state(let state) = reading else {
            Issue.record("expected a state with problems, got \(reading)")
            return
        }
        #expect(state.tables.isEmpty)
        #expect(state.problems.count == 2, "\(state.problems)")
        #expect(state.problems.first?.contains("more than 1048576 bytes of output") == true, "\(state.problems)")
        #expect(state.problems.last?.contains("no answer within") == true)
    }

    @Test("ToolRunner reports exit status, stdout and stderr, and a program that cannot start")
    func runner() throws {
        let output = try ToolRunner().run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(output == ToolOutput(status: 3, stdout: "out\n", stderr: "err\n", timedOut: false, truncated: false))
        #expect(throws: ToolStartError.self) { try ToolRunner().run("/nonexistent/fwt-tool", []) }
    }
}
