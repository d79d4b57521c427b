import FwdwatchConfig
import FwdwatchCore
import FwdwatchTestSupport
import Testing

@Suite struct ConfigurationTests {
    @Test func shippedConfigurationParsesToTheDefaults() throws {
        let path = packageRoot() + "/packaging/fwdwatch.toml"
        let configuration = try ConfigurationFile.load(path: path)
        var expected = Configuration.defaults
        expected.path = path
        #expect(configuration == expected)
    }

    @Test func everyKeyIsRead() throws {
        let text = """
            [rules]
            disable = ["bridge-nf-call-disabled"]
            [rules.severity]
            default-route-missing = "info"
            [interfaces]
            ignore = ["tun*", "wg?"]
            [bridges]
            watch = ["docker0", "br-*"]
            [conntrack]
            warning-fill = 0.8
            critical-fill = 0.95
            [daemon]
            sweep-interval-seconds = 2
            coalesce-milliseconds = 50
            flap-hold-seconds = 0
            log-target = "json"
            """
        let configuration = try ConfigurationParser.parse(text, path: "test.toml")
        let settings = configuration.settings
        #expect(settings.disabledRules == ["bridge-nf-call-disabled"])
        #expect(settings.severityOverrides == ["default-route-missing": .info])
        #expect(settings.ignoredInterfaces.map(\.pattern) == ["tun*", "wg?"])
        #expect(settings.isIgnored("tun0") && settings.isIgnored("wg0") && !settings.isIgnored("wg10"))
        #expect(settings.isWatchedBridge("br-1a2b") && !settings.isWatchedBridge("virbr0"))
        #expect(settings.conntrackWarningRatio == 0.8 && settings.conntrackCriticalRatio == 0.95)
        #expect(configuration.daemon.sweepInterval == .seconds(2))
        #expect(configuration.daemon.coalescingWindow == .milliseconds(50))
        #expect(configuration.daemon.flapHold == .zero)
        #expect(configuration.daemon.logTarget == "json")
    }

    @Test func emptyFileIsTheDefaults() throws {
        var expected = Configuration.defaults
        expected.path = "empty.toml"
        #expect(try ConfigurationParser.parse("", path: "empty.toml") == expected)
    }

    /// Each bad file names the file, the line and the key.
    @Test(arguments: [
        ("[rules]\ndisabel = [\"x\"]\n", 2, "rules.disabel", "unknown key"),
        ("[rules]\ndisable = [\"no-such-rule\"]\n", 2, "rules.disable", "unknown rule"),
        ("# comment\n[rulez]\n", 2, "rulez", "unknown table"),
        ("[rules.severity]\nbridge-down = \"fatal\"\n", 2, "rules.severity.bridge-down", "expected"),
        ("[daemon]\n\nsweep-interval-seconds = -1\n", 3, "daemon.sweep-interval-seconds", "expected a number"),
        ("[daemon]\nlog-target = \"syslog\"\n", 2, "daemon.log-target", "journal"),
        ("[interfaces]\nignore = \"eth0\"\n", 2, "interfaces.ignore", "array of strings"),
        ("[interfaces]\nignore = [\"eth[0\"]\n", 2, "interfaces.ignore", "unclosed"),
        ("[conntrack]\nwarning-fill = 0.99\ncritical-fill = 0.5\n", 2, "conntrack.warning-fill", "critical-fill"),
        ("top = 1\n", 1, "top", "expected a table"),
    ])
    func badFilesNameFileLineAndKey(text: String, line: Int, key: String, reason: String) {
        #expect {
            try ConfigurationParser.parse(text, path: "/etc/fwdwatch/fwdwatch.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.path == "/etc/fwdwatch/fwdwatch.toml" && error.line == line && error.key == key
                && error.reason.contains(reason)
                && error.description.hasPrefix("/etc/fwdwatch/fwdwatch.toml:\(line): \(key): ")
        }
    }

    @Test func syntaxErrorsCarryTheLine() {
        #expect {
            try ConfigurationParser.parse("[rules]\ndisable = [\"a\"\n\n", path: "x.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line != nil && error.reason.hasPrefix("not valid TOML")
        }
    }

    @Test func missingDefaultFileMeansDefaultsButMissingNamedFileIsAnError() throws {
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.load(path: "/nonexistent/fwdwatch.toml") }
    }

    @Test func binaryGarbageIsAnErrorNotACrash() {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationParser.parse("\u{0}\u{1}[[[=", path: "garbage.toml")
        }
    }
}
