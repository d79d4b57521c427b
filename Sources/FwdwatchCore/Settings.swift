/// What the operator chose: which rules run, at what severity, what to ignore and what to watch.
/// Parsed from the configuration file at the edge; the core only reads it.
public struct Settings: Sendable, Equatable {
    public var disabledRules: Set<RuleID>
    public var severityOverrides: [RuleID: Severity]
    /// Interfaces whose findings are never reported (glob patterns).
    public var ignoredInterfaces: [Glob]
    /// Bridges the bridge rules watch (glob patterns); empty means every bridge.
    public var watchedBridges: [Glob]
    /// conntrack fill that is a warning, and that is critical (fractions of nf_conntrack_max).
    public var conntrackWarningRatio: Double
    public var conntrackCriticalRatio: Double

    public init(
        disabledRules: Set<RuleID> = [], severityOverrides: [RuleID: Severity] = [:],
        ignoredInterfaces: [Glob] = [], watchedBridges: [Glob] = [],
        conntrackWarningRatio: Double = 0.90, conntrackCriticalRatio: Double = 0.98
    ) {
        self.disabledRules = disabledRules
        self.severityOverrides = severityOverrides
        self.ignoredInterfaces = ignoredInterfaces
        self.watchedBridges = watchedBridges
        self.conntrackWarningRatio = conntrackWarningRatio
        self.conntrackCriticalRatio = conntrackCriticalRatio
    }

    public static let defaults = Settings()

    public func isIgnored(_ interface: String) -> Bool {
        ignoredInterfaces.contains { $0.matches(interface) }
    }

    public func isWatchedBridge(_ name: String) -> Bool {
        watchedBridges.isEmpty || watchedBridges.contains { $0.matches(name) }
    }
}
