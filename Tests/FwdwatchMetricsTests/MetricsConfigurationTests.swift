import FwdwatchConfig
import Testing

/// The `[metrics]` table of fwdwatch.toml.
@Suite struct MetricsConfigurationTests {
    @Test func offByDefault() throws {
        let configuration = try ConfigurationParser.parse("", path: "empty.toml")
        #expect(configuration.metrics == MetricsOptions())
        #expect(configuration.metrics.listen == nil && configuration.metrics.textfileDirectory == nil)
    }

    @Test func bothKeysAreRead() throws {
        let text = """
            [metrics]
            listen = "127.0.0.1:10039"
            textfile-directory = "/var/lib/prometheus/node-exporter"
            """
        let metrics = try ConfigurationParser.parse(text, path: "m.toml").metrics
        #expect(metrics.listen == MetricsListenAddress(host: "127.0.0.1", port: 10039))
        #expect(metrics.textfileDirectory == "/var/lib/prometheus/node-exporter")
    }

    @Test func barePortListensOnLoopback() throws {
        let metrics = try ConfigurationParser.parse("[metrics]\nlisten = \"10039\"\n", path: "m.toml").metrics
        #expect(metrics.listen?.description == "127.0.0.1:10039")
    }

    /// Each bad value names the file, the line and the key, like the other tables.
    @Test(arguments: [
        ("[metrics]\nlisten = 10039\n", 2, "metrics.listen", "expected a string"),
        ("[metrics]\nlisten = \"localhost:10039\"\n", 2, "metrics.listen", "not a numeric IP address"),
        ("[metrics]\nlisten = \"127.0.0.1:70000\"\n", 2, "metrics.listen", "not a port from 1 to 65535"),
        ("[metrics]\nlisten = \"127.0.0.1\"\n", 2, "metrics.listen", "expected \"ADDRESS:PORT\""),
        ("[metrics]\n\ntextfile-directory = \"relative/dir\"\n", 3, "metrics.textfile-directory", "absolute"),
        ("[metrics]\ntextfile-directory = true\n", 2, "metrics.textfile-directory", "absolute"),
        (
            "# c\n[metrics]\nlisten = \"10039\"\nport = 1\n", 4, "metrics.port",
            "unknown key; known: listen, textfile-directory"
        ),
    ])
    func badValueIsAnError(_ text: String, _ line: Int, _ key: String, _ reason: String) {
        do {
            _ = try ConfigurationParser.parse(text, path: "bad.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.path == "bad.toml")
            #expect(error.line == line, "\(error)")
            #expect(error.key == key, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.description.hasPrefix("bad.toml:\(line): \(key): "))
        }
    }
}
