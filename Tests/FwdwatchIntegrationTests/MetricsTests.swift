import Foundation
import Testing

/// Prometheus metrics of a real `fwdwatch run` in the incident's namespaces: the `/metrics` endpoint
/// (scraped with curl inside the namespace) and the node_exporter textfile follow an injected
/// breakage and its healing.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct MetricsTests {
    /// The incident's alert as the daemon raises it (rule and subject checked by DaemonTests).
    static let incidentSeries =
        #"fwdwatch_problem_active{rule="interface-forwarding-disabled",subject="eth0",severity="critical"}"#
    static let resolvedSeries = #"fwdwatch_alerts_resolved_total{rule="interface-forwarding-disabled"}"#
    static let raisedSeries = #"fwdwatch_alerts_raised_total{rule="interface-forwarding-disabled"}"#
    /// Inside the test's own namespace no other program listens: the default port is free.
    static let port = 10039

    /// promtool from Debian's prometheus package (scripts/promtool.sh unpacks it, never installs it); nil
    /// when it cannot be had.
    static let promtool: String? = {
        guard
            let result = try? Shell.run(
                ["bash", packageRoot() + "/scripts/promtool.sh"], timeout: .seconds(300), check: false),
            result.status == 0
        else { return nil }
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// Debian 12's node_exporter (package prometheus-node-exporter, `apt-get download`ed and unpacked with
    /// `dpkg -x` into /tmp/fwdwatch-node-exporter, never installed); nil when it cannot be had.
    static let nodeExporter: String? = {
        let script = #"""
            set -eu
            unpacked=/tmp/fwdwatch-node-exporter
            binary=$unpacked/usr/bin/prometheus-node-exporter
            exec 9>"$unpacked.lock"; flock 9
            if [ ! -x "$binary" ]; then
                download=$(mktemp -d /tmp/fwdwatch-node-exporter-download.XXXXXX)
                trap 'rm -rf "$download"' EXIT
                chmod 0777 "$download"  # apt-get download drops privileges to _apt
                (cd "$download" && apt-get download -q prometheus-node-exporter >&2)
                staging=$(mktemp -d /tmp/fwdwatch-node-exporter-staging.XXXXXX)
                dpkg -x "$download"/prometheus-node-exporter_*.deb "$staging"
                mv "$staging" "$unpacked"
            fi
            echo "$binary"
            """#
        guard let result = try? Shell.run(["bash", "-c", script], timeout: .seconds(300), check: false),
            result.status == 0
        else { return nil }
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// A scratch directory holding the configuration (and the textfile, when asked).
    final class Scratch: @unchecked Sendable {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-metrics-\(randomSuffix())").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func config(_ text: String) throws -> String {
            let file = path + "/fwdwatch.toml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    /// One scrape of the endpoint from inside `namespace`; nil when nothing answered.
    func scrape(_ namespace: NetworkNamespace, path: String = "/metrics") throws -> String? {
        let result = try namespace.exec(
            ["curl", "-sS", "--fail", "--max-time", "2", "http://127.0.0.1:\(Self.port)\(path)"], check: false)
        return result.status == 0 ? result.stdout : nil
    }

    /// The samples of an exposition: `name{labels}` as printed → value.
    func samples(_ text: String?) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in (text ?? "").split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// Reads metrics with `read` until `condition` holds on them (deadline 10 s); returns the last reading.
    func waitForMetrics(
        _ read: () throws -> String?, until condition: ([String: Double]) -> Bool
    ) rethrows -> [String: Double] {
        var last: [String: Double] = [:]
        _ = try waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) {
            last = samples(try read())
            return condition(last)
        }
        return last
    }

    @Test func endpointFollowsTheIncidentAndItsHealing() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let scratch = try Scratch()
        let config = try scratch.config("[metrics]\nlisten = \"127.0.0.1:\(Self.port)\"\n")
        let daemon = try DaemonProcess(namespace: topology.host, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        var metrics = try waitForMetrics({ try scrape(topology.host) }) { ($0["fwdwatch_evaluations_total"] ?? 0) >= 1 }
        #expect(metrics[#"fwdwatch_build_info{version="\#(try fwdwatchVersion())"}"#] == 1)
        #expect(metrics[Self.incidentSeries] == nil)
        #expect(metrics[#"fwdwatch_problems{severity="critical"}"#] == 0)
        #expect(metrics[Self.raisedSeries] == 0)
        #expect((metrics["fwdwatch_last_evaluation_timestamp_seconds"] ?? 0) > Date().timeIntervalSince1970 - 60)
        #expect(try scrape(topology.host, path: "/") == nil, "404 outside /metrics")

        let mark = daemon.all.count
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(
            daemon.waitForAlert(from: mark, "raised", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
        metrics = try waitForMetrics({ try scrape(topology.host) }) { $0[Self.incidentSeries] == 1 }
        #expect(metrics[Self.incidentSeries] == 1, "\(metrics.filter { $0.key.contains("problem") })")
        #expect((metrics[#"fwdwatch_problems{severity="critical"}"#] ?? 0) >= 1)
        #expect(metrics[Self.raisedSeries] == 1)
        #expect((metrics["fwdwatch_netlink_events_total"] ?? 0) >= 1)
        #expect((metrics["fwdwatch_last_event_timestamp_seconds"] ?? 0) > Date().timeIntervalSince1970 - 60)

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        #expect(
            daemon.waitForAlert(from: mark, "resolved", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
        metrics = try waitForMetrics({ try scrape(topology.host) }) { $0[Self.incidentSeries] == nil }
        #expect(metrics[Self.incidentSeries] == nil, "the series goes with the resolved alert")
        #expect(metrics[Self.resolvedSeries] == 1)
        #expect(metrics[#"fwdwatch_problems{severity="critical"}"#] == 0)

        let stopped = daemon.stop()
        #expect(stopped?.status == 0, "stderr: \(daemon.stderr)")
        #expect((stopped?.seconds ?? 99) < 1.0, "the endpoint must not delay the stop")
    }

    @Test func textfileFollowsTheIncidentAndItsHealing() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let scratch = try Scratch()
        let directory = scratch.path + "/textfile"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = try scratch.config("[metrics]\ntextfile-directory = \"\(directory)\"\n")
        let daemon = try DaemonProcess(namespace: topology.host, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        let file = directory + "/fwdwatch.prom"
        let read = { try? String(contentsOfFile: file, encoding: .utf8) }

        var metrics = waitForMetrics(read) { ($0["fwdwatch_evaluations_total"] ?? 0) >= 1 }
        #expect(metrics[#"fwdwatch_problems{severity="critical"}"#] == 0)
        #expect(metrics[Self.incidentSeries] == nil)

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        metrics = waitForMetrics(read) { $0[Self.incidentSeries] == 1 }
        #expect(metrics[Self.incidentSeries] == 1)
        #expect(metrics[Self.raisedSeries] == 1)

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        metrics = waitForMetrics(read) { $0[Self.incidentSeries] == nil && $0[Self.resolvedSeries] == 1 }
        #expect(metrics[Self.incidentSeries] == nil)
        #expect(metrics[Self.resolvedSeries] == 1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(leftovers == ["fwdwatch.prom"], "no temporary files left behind")
        #expect(daemon.stop()?.status == 0)
    }

    @Test func aReloadKeepsTheEndpointAndSaysTheChangeWaitsForARestart() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let scratch = try Scratch()
        let config = try scratch.config("[metrics]\nlisten = \"\(Self.port)\"\n")
        let daemon = try DaemonProcess(namespace: namespace, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")

        _ = try scratch.config("[metrics]\nlisten = \"127.0.0.1:\(Self.port + 1)\"\n")
        let mark = daemon.all.count
        daemon.signal(SIGHUP)
        let notice = daemon.waitFor(from: mark) {
            ($0["message"] as? String)?.hasPrefix("Configuration reloaded") == true
        }
        let message = notice?["message"] as? String ?? ""
        #expect(message.contains("metrics.listen changed and take effect at the next restart"), "\(message)")
        #expect(samples(try scrape(namespace))["fwdwatch_evaluations_total"] != nil, "the old endpoint still answers")
        #expect(daemon.isRunning)
    }

    @Test func aPortInUseStopsTheDaemonWithTheAddress() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let scratch = try Scratch()
        let config = try scratch.config("[metrics]\nlisten = \"\(Self.port)\"\n")
        let first = try DaemonProcess(namespace: namespace, config: config)
        defer { first.stop() }
        #expect(first.waitUntilStarted(), "stderr: \(first.stderr)")

        let second = try namespace.exec(
            [fwdwatchBinary(), "run", "--log-target", "json", "--config", config], timeout: .seconds(20), check: false)
        #expect(second.status != 0)
        #expect(
            second.stderr.contains(
                "\(config): metrics.listen: cannot listen on 127.0.0.1:\(Self.port): Address already in use"),
            "stderr: \(second.stderr)")
        #expect(first.isRunning)
    }

    @Test(.enabled(if: MetricsTests.promtool != nil, "promtool is unavailable (scripts/promtool.sh failed)"))
    func aScrapeDuringTheIncidentPassesPromtool() throws {
        let promtool = try #require(Self.promtool)
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let scratch = try Scratch()
        let config = try scratch.config("[metrics]\nlisten = \"\(Self.port)\"\n")
        let daemon = try DaemonProcess(namespace: topology.host, config: config)
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        var text: String?
        _ = try waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) {
            text = try scrape(topology.host)
            return samples(text)[Self.incidentSeries] == 1
        }
        let exposition = try #require(text)
        let check = try Shell.run([promtool, "check", "metrics"], check: false, input: exposition)
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)")
    }

    /// The shipped, hardened unit (address families, read-only file system, a dynamic user) under a real
    /// systemd: the endpoint answers a scrape on loopback during the incident, and the textfile lands in
    /// Debian's node_exporter directory through the documented recipe. (IPAddressDeny/Allow are not
    /// enforced in this container on this VM, so the IP filter itself is not proven here;
    /// RestrictAddressFamilies is: without AF_INET the service fails to start.)
    ///
    /// The textfile part follows an operator on Debian 12: the directory as prometheus-node-exporter
    /// creates it (root:root 0755) refuses the write ("Read-only file system", then "Permission denied"
    /// with `ReadWritePaths=` alone); after `dpkg-statoverride ... 2775` and the shipped
    /// packaging/systemd/textfile.conf, the daemon writes fwdwatch.prom, user prometheus reads it, and
    /// Debian's own node_exporter, run as user prometheus with its default textfile directory, serves
    /// the incident's series (skipped, with a note, when that package cannot be downloaded).
    /// The prometheus user, the directories and the statoverride database live in the container's
    /// volatile (tmpfs) /etc and /var, never the host's.
    @Test(.enabled(if: SystemdContainer.nspawnPath != nil, "systemd-nspawn is missing (package systemd-container)"))
    func theShippedUnitServesTheEndpointAndTheTextfile() throws {
        let unit = "fwdwatch.service"
        let textfileDirectory = "/var/lib/prometheus/node-exporter"
        let textfile = "\(textfileDirectory)/fwdwatch.prom"
        let topology = try IncidentTopology(prefix: "fwt-sdm")
        defer { topology.delete() }
        let staging = try ServiceStaging()
        defer { staging.remove() }
        try staging.writeConfig(
            "[metrics]\nlisten = \"127.0.0.1:\(Self.port)\"\ntextfile-directory = \"\(textfileDirectory)\"\n")
        let nodeExporterInContainer = "/opt/node-exporter/prometheus-node-exporter"
        let nodeExporterBinds = Self.nodeExporter.map {
            [SystemdContainer.Bind(source: $0, target: nodeExporterInContainer)]
        }
        let container = try SystemdContainer(namespace: topology.host, binds: staging.binds + (nodeExporterBinds ?? []))
        defer { container.powerOff() }
        func message(_ entry: [String: Any]) -> String { entry["MESSAGE"] as? String ?? "" }
        /// The first textfile notice of `unit` after `cursor`.
        func textfileNotice(after cursor: String) throws -> String? {
            try container.waitForEntry(unit: unit, after: cursor) {
                message($0).hasPrefix("Cannot write the metrics textfile")
            }.map(message)
        }

        // The host as Debian leaves it: prometheus-node-exporter's system user and its textfile directory.
        // In the container's own /etc and /var (tmpfs under --volatile=yes); the guard refuses to go on if
        // the host's dpkg database were visible, since the recipe below records a statoverride there.
        try #require(
            try container.run(["test", "!", "-e", "/var/lib/dpkg/status"], check: false).status == 0,
            "the container sees a dpkg database: its /var is not private")
        if try container.run(["getent", "group", "prometheus"], check: false).status != 0 {
            try container.run(
                ["systemd-sysusers", "--inline", #"u prometheus - "Prometheus daemon" /var/lib/prometheus"#])
        }
        // As prometheus-node-exporter's package and postinst leave them.
        try container.run(
            ["install", "-d", "-o", "prometheus", "-g", "prometheus", "-m", "0755", "/var/lib/prometheus"])
        try container.run(["install", "-d", "-o", "root", "-g", "root", "-m", "0755", textfileDirectory])

        // The shipped unit alone: the directory is read-only for the service. It runs on and says so.
        var cursor = try container.journalCursor()
        try container.systemctl(["start", unit])
        #expect(try container.property(unit, "ActiveState") == "active")
        let readOnly = try textfileNotice(after: cursor)
        #expect(readOnly?.contains("\(textfile).tmp-") == true, "\(readOnly ?? "no notice")")
        #expect(readOnly?.contains("Read-only file system") == true, "\(readOnly ?? "no notice")")

        // ReadWritePaths= alone (what the documentation used to say): the dynamic user may not write there.
        try staging.writeDropIn("textfile.conf", "[Service]\nReadWritePaths=\(textfileDirectory)\n")
        try container.systemctl(["daemon-reload"])
        cursor = try container.journalCursor()
        try container.systemctl(["restart", unit])
        let denied = try textfileNotice(after: cursor)
        #expect(denied?.contains("Permission denied") == true, "\(denied ?? "no notice")")

        // The recipe, verbatim: the statoverride, the shipped drop-in, reload and restart.
        try container.run(["mkdir", "-p", "/var/lib/dpkg"])
        try container.run(
            ["dpkg-statoverride", "--update", "--add", "root", "prometheus", "2775", textfileDirectory])
        let dropIn = try String(
            contentsOfFile: packageRoot() + "/packaging/systemd/textfile.conf", encoding: .utf8)
        try staging.writeDropIn("textfile.conf", dropIn)
        try container.systemctl(["daemon-reload"])
        cursor = try container.journalCursor()
        try container.systemctl(["restart", unit])
        #expect(try container.property(unit, "ActiveState") == "active")

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        let scraped = waitForMetrics({
            try? container.run(
                ["curl", "-sS", "--fail", "--max-time", "2", "http://127.0.0.1:\(Self.port)/metrics"], check: false
            ).stdout
        }) { $0[Self.incidentSeries] == 1 }
        #expect(scraped[Self.incidentSeries] == 1, "scrape under the shipped unit: \(scraped.count) samples")
        // Read as node_exporter does: user prometheus with its own groups.
        let asPrometheus = ["setpriv", "--reuid=prometheus", "--regid=prometheus", "--init-groups"]
        let file = waitForMetrics({
            try? container.run(asPrometheus + ["cat", textfile], check: false).stdout
        }) { $0[Self.incidentSeries] == 1 }
        #expect(file[Self.incidentSeries] == 1, "textfile read by user prometheus: \(file.count) samples")
        let mode = try container.run(["stat", "-c", "%a %G", textfile]).stdout
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "644 prometheus", "\(mode)")
        let listing = try container.run(asPrometheus + ["ls", "-A", textfileDirectory]).stdout
        #expect(listing == "fwdwatch.prom\n", "no temporary files left behind: \(listing)")
        if Self.nodeExporter != nil {
            // Debian's node_exporter as its unit runs it (User=prometheus), with its default textfile directory.
            try container.run([
                "systemd-run", "--unit=fwt-node-exporter", "--uid=prometheus", "--gid=prometheus",
                nodeExporterInContainer, "--collector.disable-defaults", "--collector.textfile",
                "--web.listen-address=127.0.0.1:9100",
            ])
            // node_exporter prints the labels in name order.
            let servedSeries =
                #"fwdwatch_problem_active{rule="interface-forwarding-disabled",severity="critical",subject="eth0"}"#
            let served = waitForMetrics({
                try? container.run(
                    ["curl", "-sS", "--fail", "--max-time", "2", "http://127.0.0.1:9100/metrics"], check: false
                ).stdout
            }) { $0[servedSeries] == 1 }
            #expect(
                served[servedSeries] == 1,
                "node_exporter served \(served.keys.filter { $0.hasPrefix("fwdwatch_problem") })")
            #expect(served["node_textfile_scrape_error"] == 0)
            #expect(served[#"node_textfile_mtime_seconds{file="\#(textfile)"}"#] != nil, "\(served.keys.sorted())")
        } else {
            print("MetricsTests: prometheus-node-exporter could not be downloaded: textfile read with setpriv only")
        }
        let notices = try container.journalEntries(unit: unit, after: cursor).map(message).filter {
            $0.contains("metrics textfile")
        }
        #expect(notices.isEmpty, "\(notices)")

        try container.systemctl(["stop", unit])
        #expect(try container.property(unit, "Result") == "success")
    }

    /// What `fwdwatch --version` prints: the build_info label.
    func fwdwatchVersion() throws -> String {
        try Shell.run([fwdwatchBinary(), "--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
