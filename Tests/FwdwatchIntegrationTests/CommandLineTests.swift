import Foundation
import FwdwatchCore
import Testing

/// The real binary on bad input: each gives exit 3 and a one-line error naming what and where, never a crash.
@Suite struct CommandLineTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-cli-\(randomSuffix())").path

    init() throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = "\(scratch)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func check(_ args: [String]) throws -> ShellResult {
        try Shell.run([fwdwatchBinary(), "check"] + args, check: false)
    }

    static let healthy = GoldenTests.snapshot("healthy-docker-host")

    @Test func malformedConfigurationNamesFileLineAndKey() throws {
        let config = try write("bad.toml", "[interfaces]\nignore = [\"tun*\"]\nignroe = []\n")
        let result = try check(["--config", config, "--snapshot", Self.healthy])
        #expect(result.status == 3)
        #expect(result.stderr.contains("\(config):3: interfaces.ignroe: unknown key"))
        #expect(result.stdout.isEmpty)
    }

    @Test func unknownRuleInConfiguration() throws {
        let config = try write("rule.toml", "[rules]\ndisable = [\"interface-forwarding-disabld\"]\n")
        let result = try check(["--config", config, "--snapshot", Self.healthy])
        #expect(result.status == 3)
        #expect(result.stderr.contains(":2: rules.disable: unknown rule \"interface-forwarding-disabld\""))
    }

    @Test func missingConfigurationFileNamedExplicitly() throws {
        let result = try check(["--config", "\(scratch)/nope.toml", "--snapshot", Self.healthy])
        #expect(result.status == 3)
        #expect(result.stderr.contains("nope.toml: No such file or directory"))
    }

    @Test func truncatedSnapshot() throws {
        let text = try String(contentsOfFile: Self.healthy, encoding: .utf8)
        let path = try write("truncated.json", String(text.prefix(text.count / 2)))
        let result = try check(["--config", "/dev/null", "--snapshot", path])
        #expect(result.status == 3)
        #expect(result.stderr.hasPrefix("fwdwatch: \(path): not valid JSON"))
    }

    @Test func snapshotWithAWrongField() throws {
        let path = try write("wrong.json", #"{"format": 1, "links": [{"index": "one"}]}"#)
        let result = try check(["--config", "/dev/null", "--snapshot", path])
        #expect(result.status == 3)
        #expect(result.stderr.contains(path))
        #expect(result.stderr.contains("links"))
    }

    @Test func snapshotOfAnUnknownFormat() throws {
        let path = try write(
            "future.json",
            #"{"format": 99, "links": [], "addresses": [], "routes": [], "ipv4Conf": {}, "ipv6Forwarding": {}, "ipCounters": {}}"#)
        let result = try check(["--config", "/dev/null", "--snapshot", path])
        #expect(result.status == 3)
        #expect(result.stderr.contains("snapshot format 99 is not supported"))
    }

    @Test func missingSnapshotFile() throws {
        let result = try check(["--config", "/dev/null", "--snapshot", "\(scratch)/none.json"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("none.json: No such file or directory"))
    }

    @Test func missingProcRoot() throws {
        let result = try check(["--config", "/dev/null", "--sample", "0", "--proc-root", "\(scratch)/no-such-root"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("no-such-root"))
    }

    @Test func badSampleFlagIsAUsageError() throws {
        let result = try check(["--sample", "-1"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--sample"))
    }

    @Test func rulesListsEveryRule() throws {
        let result = try Shell.run([fwdwatchBinary(), "rules"])
        let ids = result.stdout.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
        // The binary lists the registry, in its order (RuleRegistryTests checks the registry against Rules/).
        #expect(ids == RuleRegistry.all.map(\.id.rawValue))
    }
}
