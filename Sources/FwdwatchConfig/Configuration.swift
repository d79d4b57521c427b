import FwdwatchCore

/// The whole configuration: what the rules see (`Settings`) and how the daemon runs.
public struct Configuration: Sendable, Equatable {
    public var settings: Settings
    public var daemon: DaemonOptions
    /// What the daemon may repair by itself (`[repair]`); off by default.
    public var repair: RepairPolicy
    /// Where Prometheus metrics go (`[metrics]`); both ways out are off by default.
    public var metrics: MetricsOptions = MetricsOptions()
    /// Drop attribution (`[drops] enabled`): a BPF program counts the packets the kernel drops; off by default.
    public var drops: DropOptions = DropOptions()
    /// The file it was read from; nil for the built-in defaults.
    public var path: String?

    public init(
        settings: Settings = .defaults, daemon: DaemonOptions = DaemonOptions(), repair: RepairPolicy = .defaults,
        path: String? = nil
    ) {
        self.settings = settings
        self.daemon = daemon
        self.repair = repair
        self.path = path
    }

    /// Built-in defaults: every rule on, every bridge watched; they suit a Docker host.
    public static let defaults = Configuration()
}

/// `[drops]`: whether to load the drop probe (needs CAP_BPF and CAP_PERFMON: the unit drop-in drops.conf).
public struct DropOptions: Sendable, Equatable {
    public var enabled: Bool

    public init(enabled: Bool = false) {
        self.enabled = enabled
    }
}

public struct DaemonOptions: Sendable, Equatable {
    /// How often what emits no netlink event (sysctls without netconf events, conntrack, drop counters) is read.
    public var sweepInterval: Duration
    /// Events closer together than this are evaluated together; a lone event is evaluated at once.
    public var coalescingWindow: Duration
    /// A problem that clears and comes back within this time is reported once, with a count.
    public var flapHold: Duration
    /// "journal", "console" or "json"; nil = journal when journald listens, else console.
    public var logTarget: String?

    public init(
        sweepInterval: Duration = .seconds(5), coalescingWindow: Duration = .milliseconds(20),
        flapHold: Duration = .seconds(1), logTarget: String? = nil
    ) {
        self.sweepInterval = sweepInterval
        self.coalescingWindow = coalescingWindow
        self.flapHold = flapHold
        self.logTarget = logTarget
    }

    public static let logTargets = ["journal", "console", "json"]
}

/// A configuration file that cannot be used, with the file, line and key at fault (and, for a syntax error,
/// the column): `path:line[:column]: [key: ]reason`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int?
    /// 1-based, in characters; set for syntax errors only.
    public var column: Int?
    public var key: String?
    public var reason: String

    public init(path: String, line: Int? = nil, column: Int? = nil, key: String? = nil, reason: String) {
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.reason = reason
    }

    public var description: String {
        var text = path
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if let key { text += "\(key): " }
        return text + reason
    }
}
