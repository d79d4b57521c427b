import FwdwatchCore
internal import TOMLKit

/// Reads `fwdwatch.toml`. Unknown tables and keys are errors (a typo must not silently do nothing),
/// and every error names the file, the line and the key.
///
/// ```toml
/// [rules]
/// disable = ["bridge-nf-call-disabled"]
/// [rules.severity]
/// default-route-missing = "info"
/// [interfaces]
/// ignore = ["tun*", "wg*"]
/// [bridges]
/// watch = ["docker0", "br-*"]
/// [conntrack]
/// warning-fill = 0.90
/// critical-fill = 0.98
/// [daemon]
/// sweep-interval-seconds = 5
/// coalesce-milliseconds = 20
/// flap-hold-seconds = 1
/// log-target = "journal"
/// [repair]
/// forwarding = false
/// max-per-hour = 3
/// [metrics]
/// listen = "127.0.0.1:10039"
/// textfile-directory = "/var/lib/prometheus/node-exporter"
/// ```
public enum ConfigurationParser {
    public static let defaultPath = "/etc/fwdwatch/fwdwatch.toml"

    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> Configuration {
        // TOMLKit hands the text to C++ as a C string: a NUL byte would silently end the document there.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].count { $0 == UInt8(ascii: "\n") } + 1
            throw ConfigurationError(path: path, line: line, reason: "not valid TOML: contains a NUL byte")
        }
        // toml++ aborts the process on a few malformed shapes instead of throwing: catch those first.
        if let flaw = TOMLPreflight.firstAbortingFlaw(in: text) {
            throw ConfigurationError(path: path, line: flaw.line, reason: "not valid TOML: \(flaw.reason)")
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(path: path, line: error.source.begin.line, reason: "not valid TOML: \(error.description)")
        } catch {
            throw ConfigurationError(path: path, reason: "not valid TOML: \(error)")
        }
        var reader = Reader(path: path, lines: LineIndex(text))
        return try reader.configuration(from: root)
    }

    struct Reader {
        let path: String
        let lines: LineIndex
        var configuration = Configuration()

        init(path: String, lines: LineIndex) {
            self.path = path
            self.lines = lines
            configuration.path = path
        }

        func error(_ table: String, _ key: String?, _ reason: String) -> ConfigurationError {
            let dotted = key.map { table.isEmpty ? $0 : "\(table).\($0)" } ?? table
            return ConfigurationError(path: path, line: lines.line(table: table, key: key), key: dotted, reason: reason)
        }

        mutating func configuration(from root: TOMLTable) throws(ConfigurationError) -> Configuration {
            for (name, value) in root {
                guard let table = value.table else {
                    throw error("", name, "expected a table such as [\(name)], found a \(value.type)")
                }
                switch name {
                case "rules": try rules(table)
                case "interfaces": try interfaces(table)
                case "bridges": try bridges(table)
                case "conntrack": try conntrack(table)
                case "daemon": try daemon(table)
                case "repair": try repair(table)
                case "metrics": try metrics(table)
                default:
                    throw error(
                        name, nil,
                        "unknown table [\(name)]; known: rules, interfaces, bridges, conntrack, daemon, repair, metrics")
                }
            }
            let settings = configuration.settings
            guard settings.conntrackWarningRatio <= settings.conntrackCriticalRatio else {
                throw error("conntrack", "warning-fill", "must not be above critical-fill")
            }
            return configuration
        }

        mutating func rules(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                switch key {
                case "disable":
                    for id in try strings(value, "rules", key) {
                        guard RuleRegistry.rule(RuleID(id)) != nil else {
                            throw error("rules", key, "unknown rule \"\(id)\" (see `fwdwatch rules`)")
                        }
                        configuration.settings.disabledRules.insert(RuleID(id))
                    }
                case "severity":
                    guard let overrides = value.table else { throw error("rules", key, "expected a table [rules.severity]") }
                    for (id, level) in overrides {
                        guard RuleRegistry.rule(RuleID(id)) != nil else {
                            throw error("rules.severity", id, "unknown rule \"\(id)\" (see `fwdwatch rules`)")
                        }
                        guard let text = level.string, let severity = Severity(rawValue: text) else {
                            throw error("rules.severity", id, "expected \"critical\", \"warning\" or \"info\"")
                        }
                        configuration.settings.severityOverrides[RuleID(id)] = severity
                    }
                default:
                    throw error("rules", key, "unknown key; known: disable, severity")
                }
            }
        }

        mutating func interfaces(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                guard key == "ignore" else { throw error("interfaces", key, "unknown key; known: ignore") }
                configuration.settings.ignoredInterfaces = try globs(value, "interfaces", key)
            }
        }

        mutating func bridges(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                guard key == "watch" else { throw error("bridges", key, "unknown key; known: watch") }
                configuration.settings.watchedBridges = try globs(value, "bridges", key)
            }
        }

        mutating func conntrack(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                let fill = try number(value, "conntrack", key, in: 0.0...1.0)
                switch key {
                case "warning-fill": configuration.settings.conntrackWarningRatio = fill
                case "critical-fill": configuration.settings.conntrackCriticalRatio = fill
                default: throw error("conntrack", key, "unknown key; known: warning-fill, critical-fill")
                }
            }
        }

        mutating func daemon(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                switch key {
                case "sweep-interval-seconds":
                    configuration.daemon.sweepInterval = .seconds(try number(value, "daemon", key, in: 0.1...3600))
                case "coalesce-milliseconds":
                    configuration.daemon.coalescingWindow = .milliseconds(try number(value, "daemon", key, in: 0...10_000))
                case "flap-hold-seconds":
                    configuration.daemon.flapHold = .seconds(try number(value, "daemon", key, in: 0...3600))
                case "log-target":
                    guard let target = value.string, DaemonOptions.logTargets.contains(target) else {
                        throw error("daemon", key, "expected \"journal\", \"console\" or \"json\"")
                    }
                    configuration.daemon.logTarget = target
                default:
                    throw error(
                        "daemon", key,
                        "unknown key; known: sweep-interval-seconds, coalesce-milliseconds, flap-hold-seconds, log-target")
                }
            }
        }

        mutating func repair(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                switch key {
                case "forwarding":
                    guard let enabled = value.bool else { throw error("repair", key, "expected true or false") }
                    configuration.repair.forwarding = enabled
                case "max-per-hour":
                    configuration.repair.maxPerHour = try integer(value, "repair", key, in: 1...1000)
                default:
                    throw error("repair", key, "unknown key; known: forwarding, max-per-hour")
                }
            }
        }

        mutating func metrics(_ table: TOMLTable) throws(ConfigurationError) {
            for (key, value) in table {
                switch key {
                case "listen":
                    guard let text = value.string else {
                        throw error("metrics", key, "expected a string such as \"127.0.0.1:10039\"")
                    }
                    switch MetricsListenAddress.parse(text) {
                    case .success(let address): configuration.metrics.listen = address
                    case .failure(let reason): throw error("metrics", key, "\(reason)")
                    }
                case "textfile-directory":
                    guard let directory = value.string, directory.hasPrefix("/") else {
                        throw error("metrics", key, "expected an absolute directory path")
                    }
                    configuration.metrics.textfileDirectory = directory
                default:
                    throw error("metrics", key, "unknown key; known: listen, textfile-directory")
                }
            }
        }

        func strings(_ value: any TOMLValueConvertible, _ table: String, _ key: String) throws(ConfigurationError)
            -> [String]
        {
            guard let array = value.array else { throw error(table, key, "expected an array of strings") }
            var result: [String] = []
            for element in array {
                guard let text = element.string else { throw error(table, key, "expected an array of strings") }
                result.append(text)
            }
            return result
        }

        func globs(_ value: any TOMLValueConvertible, _ table: String, _ key: String) throws(ConfigurationError)
            -> [Glob]
        {
            try strings(value, table, key).map { (pattern) throws(ConfigurationError) -> Glob in
                let glob = Glob(pattern)
                guard !pattern.isEmpty else { throw error(table, key, "empty pattern") }
                if let problem = glob.problem { throw error(table, key, "bad pattern \"\(pattern)\": \(problem)") }
                return glob
            }
        }

        func number(_ value: any TOMLValueConvertible, _ table: String, _ key: String, in range: ClosedRange<Double>)
            throws(ConfigurationError) -> Double
        {
            let number: Double? = value.double ?? value.int.map(Double.init)
            guard let number, range.contains(number) else {
                throw error(table, key, "expected a number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        /// A whole number in `range`; `3.0` counts as 3, `2.5` does not.
        func integer(_ value: any TOMLValueConvertible, _ table: String, _ key: String, in range: ClosedRange<Int>)
            throws(ConfigurationError) -> Int
        {
            let whole: Int? =
                value.int ?? value.double.flatMap { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }
            guard let whole, range.contains(whole) else {
                throw error(table, key, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return whole
        }
    }
}

/// Finds the line of a table header or key in the file text, for error messages. TOMLKit reports
/// positions of syntax errors only, so valid-but-wrong keys are located here.
struct LineIndex {
    private var entries: [(table: String, key: String?, line: Int)] = []

    init(_ text: String) {
        var table = ""
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingWhitespace()
            if line.hasPrefix("[") {
                let name = line.drop { $0 == "[" }.prefix { $0 != "]" }.trimmingWhitespace()
                table = name.filter { $0 != "\"" && $0 != " " }
                entries.append((table, nil, number))
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<equals].trimmingWhitespace().filter { $0 != "\"" }
                entries.append((table, key, number))
            }
        }
    }

    func line(table: String, key: String?) -> Int? {
        if let key, let hit = entries.first(where: { $0.table == table && $0.key == key }) { return hit.line }
        // A dotted key written inline (`severity.x = ...` under [rules]) or a sub-table.
        if let key, let hit = entries.first(where: { $0.key?.hasSuffix(".\(key)") == true }) { return hit.line }
        return entries.first { $0.table == table && $0.key == nil }?.line
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let characters = Array(self)
        var start = 0
        var end = characters.count
        while start < end, characters[start].isWhitespace { start += 1 }
        while end > start, characters[end - 1].isWhitespace { end -= 1 }
        return String(characters[start..<end])
    }
}
