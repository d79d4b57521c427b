import FwdwatchCore

/// Reads `fwdwatch.toml`. Unknown tables and keys are errors (a typo must not silently do nothing),
/// and every error names the file, the line and the key. The TOML itself is read by `TOMLReader`, which accepts
/// the subset this file needs (see there) and names the line and column of anything else.
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
/// [drops]
/// enabled = false
/// ```
public enum ConfigurationParser {
    public static let defaultPath = "/etc/fwdwatch/fwdwatch.toml"

    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> Configuration {
        let root: TOMLTable
        do {
            root = try TOMLReader.parse(text)
        } catch {
            throw ConfigurationError(
                path: path, line: error.line, column: error.column, key: error.key,
                reason: "not valid TOML: \(error.reason)")
        }
        var reader = Reader(path: path)
        return try reader.configuration(from: root)
    }

    struct Reader {
        let path: String
        var configuration = Configuration()
        /// Where the fill keys were set, for the check that the warning is not above the critical fill.
        var conntrackLines: (table: Int?, warning: Int?, critical: Int?) = (nil, nil, nil)

        init(path: String) {
            self.path = path
            configuration.path = path
        }

        /// An error about `key` of `table` (or the table itself when `key` is nil), on `line`: the line of the key,
        /// or of the table's header.
        func error(_ table: String, _ key: String?, _ reason: String, line: Int) -> ConfigurationError {
            let dotted = key.map { table.isEmpty ? $0 : "\(table).\($0)" } ?? table
            return ConfigurationError(path: path, line: line, key: dotted, reason: reason)
        }

        mutating func configuration(from root: TOMLTable) throws(ConfigurationError) -> Configuration {
            for entry in root.entries {
                let (name, value, line) = (entry.key, entry.value, entry.line)
                guard let table = value.table else {
                    throw error("", name, "expected a table such as [\(name)], found \(value.kind)", line: line)
                }
                switch name {
                case "rules": try rules(table)
                case "interfaces": try interfaces(table)
                case "bridges": try bridges(table)
                case "conntrack":
                    conntrackLines.table = line
                    try conntrack(table)
                case "daemon": try daemon(table)
                case "repair": try repair(table)
                case "metrics": try metrics(table)
                case "drops": try drops(table)
                default:
                    throw error(
                        name, nil,
                        "unknown table [\(name)]; known: rules, interfaces, bridges, conntrack, daemon, repair, metrics, drops",
                        line: line)
                }
            }
            let settings = configuration.settings
            guard settings.conntrackWarningRatio <= settings.conntrackCriticalRatio else {
                let line = conntrackLines.warning ?? conntrackLines.critical ?? conntrackLines.table
                throw error("conntrack", "warning-fill", "must not be above critical-fill", line: line ?? 1)
            }
            return configuration
        }

        mutating func rules(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                switch key {
                case "disable":
                    for id in try strings(value, "rules", key, line: line) {
                        guard RuleRegistry.rule(RuleID(id)) != nil else {
                            throw error("rules", key, "unknown rule \"\(id)\" (see `fwdwatch rules`)", line: line)
                        }
                        configuration.settings.disabledRules.insert(RuleID(id))
                    }
                case "severity":
                    guard let overrides = value.table else {
                        throw error("rules", key, "expected a table [rules.severity]", line: line)
                    }
                    for override in overrides.entries {
                        let (id, level, line) = (override.key, override.value, override.line)
                        guard RuleRegistry.rule(RuleID(id)) != nil else {
                            throw error("rules.severity", id, "unknown rule \"\(id)\" (see `fwdwatch rules`)", line: line)
                        }
                        guard let text = level.string, let severity = Severity(rawValue: text) else {
                            throw error("rules.severity", id, "expected \"critical\", \"warning\" or \"info\"", line: line)
                        }
                        configuration.settings.severityOverrides[RuleID(id)] = severity
                    }
                default:
                    throw error("rules", key, "unknown key; known: disable, severity", line: line)
                }
            }
        }

        mutating func interfaces(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                guard key == "ignore" else { throw error("interfaces", key, "unknown key; known: ignore", line: line) }
                configuration.settings.ignoredInterfaces = try globs(value, "interfaces", key, line: line)
            }
        }

        mutating func bridges(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                guard key == "watch" else { throw error("bridges", key, "unknown key; known: watch", line: line) }
                configuration.settings.watchedBridges = try globs(value, "bridges", key, line: line)
            }
        }

        mutating func conntrack(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                let fill = try number(value, "conntrack", key, in: 0.0...1.0, line: line)
                switch key {
                case "warning-fill":
                    configuration.settings.conntrackWarningRatio = fill
                    conntrackLines.warning = line
                case "critical-fill":
                    configuration.settings.conntrackCriticalRatio = fill
                    conntrackLines.critical = line
                default: throw error("conntrack", key, "unknown key; known: warning-fill, critical-fill", line: line)
                }
            }
        }

        mutating func daemon(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                switch key {
                // Each range on the line after its case: scripts/tests/man.sh reads it from there.
                case "sweep-interval-seconds":
                    configuration.daemon.sweepInterval = .seconds(try number(value, "daemon", key, in: 0.1...3600, line: line))
                case "coalesce-milliseconds":
                    configuration.daemon.coalescingWindow = .milliseconds(try number(value, "daemon", key, in: 0...10_000, line: line))
                case "flap-hold-seconds":
                    configuration.daemon.flapHold = .seconds(try number(value, "daemon", key, in: 0...3600, line: line))
                case "log-target":
                    guard let target = value.string, DaemonOptions.logTargets.contains(target) else {
                        throw error("daemon", key, "expected \"journal\", \"console\" or \"json\"", line: line)
                    }
                    configuration.daemon.logTarget = target
                default:
                    throw error(
                        "daemon", key,
                        "unknown key; known: sweep-interval-seconds, coalesce-milliseconds, flap-hold-seconds, log-target",
                        line: line)
                }
            }
        }

        mutating func repair(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                switch key {
                case "forwarding":
                    guard let enabled = value.bool else {
                        throw error("repair", key, "expected true or false", line: line)
                    }
                    configuration.repair.forwarding = enabled
                case "max-per-hour":
                    configuration.repair.maxPerHour = try integer(value, "repair", key, in: 1...1000, line: line)
                default:
                    throw error("repair", key, "unknown key; known: forwarding, max-per-hour", line: line)
                }
            }
        }

        mutating func metrics(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                switch key {
                case "listen":
                    guard let text = value.string else {
                        throw error("metrics", key, "expected a string such as \"127.0.0.1:10039\"", line: line)
                    }
                    switch MetricsListenAddress.parse(text) {
                    case .success(let address): configuration.metrics.listen = address
                    case .failure(let reason): throw error("metrics", key, "\(reason)", line: line)
                    }
                case "textfile-directory":
                    guard let directory = value.string, directory.hasPrefix("/") else {
                        throw error("metrics", key, "expected an absolute directory path", line: line)
                    }
                    configuration.metrics.textfileDirectory = directory
                default:
                    throw error("metrics", key, "unknown key; known: listen, textfile-directory", line: line)
                }
            }
        }

        mutating func drops(_ table: TOMLTable) throws(ConfigurationError) {
            for entry in table.entries {
                let (key, value, line) = (entry.key, entry.value, entry.line)
                guard key == "enabled" else { throw error("drops", key, "unknown key; known: enabled", line: line) }
                guard let enabled = value.bool else { throw error("drops", key, "expected true or false", line: line) }
                configuration.drops.enabled = enabled
            }
        }

        func strings(_ value: TOMLValue, _ table: String, _ key: String, line: Int) throws(ConfigurationError)
            -> [String]
        {
            guard let array = value.array else { throw error(table, key, "expected an array of strings", line: line) }
            var result: [String] = []
            for element in array {
                guard let text = element.string else {
                    throw error(table, key, "expected an array of strings", line: line)
                }
                result.append(text)
            }
            return result
        }

        func globs(_ value: TOMLValue, _ table: String, _ key: String, line: Int) throws(ConfigurationError)
            -> [Glob]
        {
            try strings(value, table, key, line: line).map { (pattern) throws(ConfigurationError) -> Glob in
                let glob = Glob(pattern)
                guard !pattern.isEmpty else { throw error(table, key, "empty pattern", line: line) }
                if let problem = glob.problem {
                    throw error(table, key, "bad pattern \"\(pattern)\": \(problem)", line: line)
                }
                return glob
            }
        }

        func number(
            _ value: TOMLValue, _ table: String, _ key: String, in range: ClosedRange<Double>, line: Int)
            throws(ConfigurationError) -> Double
        {
            let number: Double? = value.double ?? value.int.map(Double.init)
            guard let number, range.contains(number) else {
                throw error(table, key, "expected a number from \(range.lowerBound) to \(range.upperBound)", line: line)
            }
            return number
        }

        /// A whole number in `range`; `3.0` counts as 3, `2.5` does not.
        func integer(
            _ value: TOMLValue, _ table: String, _ key: String, in range: ClosedRange<Int>, line: Int)
            throws(ConfigurationError) -> Int
        {
            let whole: Int? =
                value.int ?? value.double.flatMap { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }
            guard let whole, range.contains(whole) else {
                throw error(
                    table, key, "expected a whole number from \(range.lowerBound) to \(range.upperBound)", line: line)
            }
            return whole
        }
    }
}
