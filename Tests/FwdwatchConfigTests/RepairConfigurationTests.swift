import FwdwatchConfig
import FwdwatchCore
import Testing

/// The `[repair]` table of fwdwatch.toml.
@Suite struct RepairConfigurationTests {
    @Test func defaultsAreOff() throws {
        let configuration = try ConfigurationParser.parse("", path: "t.toml")
        #expect(configuration.repair == RepairPolicy(forwarding: false, maxPerHour: 3))
    }

    @Test func keysAreRead() throws {
        let configuration = try ConfigurationParser.parse(
            "[repair]\nforwarding = true\nmax-per-hour = 10\n", path: "t.toml")
        #expect(configuration.repair == RepairPolicy(forwarding: true, maxPerHour: 10))
        let whole = try ConfigurationParser.parse("[repair]\nmax-per-hour = 5.0\n", path: "t.toml")
        #expect(whole.repair.maxPerHour == 5)
    }

    @Test(arguments: [
        ("[repair]\nforwarding = 1\n", 2, "repair.forwarding", "expected true or false"),
        ("[repair]\nforwarding = \"yes\"\n", 2, "repair.forwarding", "expected true or false"),
        ("# c\n[repair]\nmax-per-hour = 0\n", 3, "repair.max-per-hour", "expected a whole number from 1 to 1000"),
        ("[repair]\nmax-per-hour = 1001\n", 2, "repair.max-per-hour", "expected a whole number from 1 to 1000"),
        ("[repair]\nmax-per-hour = 2.5\n", 2, "repair.max-per-hour", "expected a whole number from 1 to 1000"),
        ("[repair]\nforwarding = true\nrp-filter = true\n", 3, "repair.rp-filter", "unknown key; known: forwarding, max-per-hour"),
    ])
    func errorsNameFileLineAndKey(_ text: String, _ line: Int, _ key: String, _ reason: String) {
        #expect(throws: ConfigurationError(path: "r.toml", line: line, key: key, reason: reason)) {
            try ConfigurationParser.parse(text, path: "r.toml")
        }
    }
}
