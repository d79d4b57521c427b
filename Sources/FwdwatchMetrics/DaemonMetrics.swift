import FwdwatchCore
import Prometheus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's Prometheus metrics, kept in one `PrometheusCollectorRegistry` (one per daemon, so tests
/// make their own). The event loop records into it; the HTTP endpoint and the textfile read
/// `exposition()` from any thread.
///
/// The metric names are a contract: the shipped alert rules (packaging/prometheus) match on them.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private let problems: [Severity: Gauge]
    private let netlinkEvents: Counter
    private let netlinkResyncs: Counter
    private let modelDisagreements: Counter
    private let evaluations: Counter
    private let evaluationDuration: DurationHistogram
    private let sweepDuration: DurationHistogram
    private let lastEvent: Gauge
    private let lastEvaluation: Gauge
    private let inAddrErrorsRate: Gauge
    private let inAddrErrorsTotal: Counter
    private let portsReachable: Gauge
    private let portsUnreachable: Gauge
    private let firewallReadable: Gauge

    /// One `fwdwatch_problem_active` series per raised alert, by (rule, subject), with the severity it carries.
    private let activeProblems = Mutex<[FindingKey: (severity: Severity, gauge: Gauge)]>([:])
    /// The last `Ip: InAddrErrors` value put into the counter (a counter can only be incremented).
    private let lastInAddrErrors = Mutex<UInt64?>(nil)

    /// Bucket bounds of `fwdwatch_evaluation_duration_seconds`: an evaluation takes well under a
    /// millisecond on a small host and tens of milliseconds with thousands of interfaces.
    static let evaluationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1),
    ]
    /// Bucket bounds of `fwdwatch_sweep_duration_seconds`: a sweep reads /proc and runs iptables-save or nft.
    static let sweepBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5),
    ]

    /// `version` is what `fwdwatch --version` prints; `rules` get their alert counters at 0 from the start.
    public init(
        version: String, rules: [RuleID] = RuleRegistry.all.map(\.id),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) {
        self.registry = registry
        var problems: [Severity: Gauge] = [:]
        for severity in Severity.allCases {
            problems[severity] = registry.gauge(
                Name.problems, labels: [("severity", severity.rawValue)], help: Help.problems)
        }
        self.problems = problems
        for rule in rules {
            _ = registry.counter(Name.alertsRaised, labels: [("rule", rule.rawValue)], help: Help.alertsRaised)
            _ = registry.counter(Name.alertsResolved, labels: [("rule", rule.rawValue)], help: Help.alertsResolved)
        }
        netlinkEvents = registry.counter(Name.netlinkEvents, help: Help.netlinkEvents)
        netlinkResyncs = registry.counter(Name.netlinkResyncs, help: Help.netlinkResyncs)
        modelDisagreements = registry.counter(Name.modelDisagreements, help: Help.modelDisagreements)
        evaluations = registry.counter(Name.evaluations, help: Help.evaluations)
        evaluationDuration = registry.durationHistogram(
            Name.evaluationDuration, buckets: Self.evaluationBuckets, help: Help.evaluationDuration)
        sweepDuration = registry.durationHistogram(
            Name.sweepDuration, buckets: Self.sweepBuckets, help: Help.sweepDuration)
        lastEvent = registry.gauge(Name.lastEvent, help: Help.lastEvent)
        lastEvaluation = registry.gauge(Name.lastEvaluation, help: Help.lastEvaluation)
        inAddrErrorsRate = registry.gauge(Name.inAddrErrorsRate, help: Help.inAddrErrorsRate)
        inAddrErrorsTotal = registry.counter(Name.inAddrErrorsTotal, help: Help.inAddrErrorsTotal)
        portsReachable = registry.gauge(
            Name.publishedPorts, labels: [("status", "reachable")], help: Help.publishedPorts)
        portsUnreachable = registry.gauge(
            Name.publishedPorts, labels: [("status", "unreachable")], help: Help.publishedPorts)
        firewallReadable = registry.gauge(Name.firewallReadable, help: Help.firewallReadable)
        registry.gauge(Name.buildInfo, labels: [("version", version)], help: Help.buildInfo).set(to: 1)
    }

    /// Records one evaluation: `alerts` are the findings whose alerts are raised and not yet resolved
    /// (`AlertTracker.active` plus `.clearing`), `transitions` what the tracker reported for it,
    /// `duration` how long the evaluation took, `unixTime` when it ended.
    ///
    /// Returns whether the problem state changed (an alert appeared, went or changed severity): the
    /// textfile is then written at once.
    @discardableResult
    public func recordEvaluation(
        _ evaluation: Evaluation, alerts: [Finding], transitions: [AlertTransition], duration: Duration,
        at unixTime: Double = unixNow()
    ) -> Bool {
        evaluations.increment()
        evaluationDuration.record(duration)
        lastEvaluation.set(to: unixTime)
        for transition in transitions {
            let labels = [("rule", transition.finding.rule.rawValue)]
            switch transition.state {
            case .raised:
                registry.counter(Name.alertsRaised, labels: labels, help: Help.alertsRaised).increment()
            case .resolved:
                registry.counter(Name.alertsResolved, labels: labels, help: Help.alertsResolved).increment()
            case .changed:
                break
            }
        }
        let unreachable = evaluation.publishedPorts.count { !$0.reachable }
        portsUnreachable.set(to: Double(unreachable))
        portsReachable.set(to: Double(evaluation.publishedPorts.count - unreachable))
        return updateActiveProblems(alerts)
    }

    /// Makes the `fwdwatch_problem_active` series and `fwdwatch_problems` match `alerts`.
    private func updateActiveProblems(_ alerts: [Finding]) -> Bool {
        var wanted: [FindingKey: Severity] = [:]
        for alert in alerts where (wanted[alert.key].map { $0 < alert.severity } ?? true) {
            wanted[alert.key] = alert.severity
        }
        let changed = activeProblems.withLock { active in
            var changed = false
            for (key, entry) in active where wanted[key] != entry.severity {
                registry.unregisterGauge(entry.gauge)
                active[key] = nil
                changed = true
            }
            for (key, severity) in wanted where active[key] == nil {
                let gauge = registry.gauge(
                    Name.problemActive,
                    labels: [("rule", key.rule.rawValue), ("subject", key.subject), ("severity", severity.rawValue)],
                    help: Help.problemActive)
                gauge.set(to: 1)
                active[key] = (severity, gauge)
                changed = true
            }
            return changed
        }
        for (severity, gauge) in problems {
            gauge.set(to: Double(wanted.values.count { $0 == severity }))
        }
        return changed
    }

    /// Records netlink events applied to the model (`count` of them) at `unixTime`.
    /// Counts `count` new distinct disagreements between fwdwatch's model and the kernel's route lookup.
    public func recordModelDisagreements(_ count: Int) {
        if count > 0 { modelDisagreements.increment(by: Int64(count)) }
    }

    public func recordNetlinkEvents(_ count: Int, at unixTime: Double = unixNow()) {
        guard count > 0 else { return }
        netlinkEvents.increment(by: Int64(count))
        lastEvent.set(to: unixTime)
    }

    /// Records a full resync after lost netlink events (an overrun, ENOBUFS).
    public func recordResync(at unixTime: Double = unixNow()) {
        netlinkResyncs.increment()
        lastEvent.set(to: unixTime)
    }

    /// Records one sweep: how long it took, the drop rate over the last interval (nil before the second
    /// sweep or after a counter reset), the raw `Ip: InAddrErrors` (nil when /proc/net/snmp lacked it),
    /// and whether the firewall rules could be read (published-port checks on).
    public func recordSweep(
        duration: Duration, dropSample: DropSample?, inAddrErrors: UInt64?, firewallRulesReadable: Bool
    ) {
        sweepDuration.record(duration)
        if let dropSample, dropSample.seconds > 0 { inAddrErrorsRate.set(to: dropSample.inAddrErrorsPerSecond) }
        if let inAddrErrors { setInAddrErrors(inAddrErrors) }
        firewallReadable.set(to: firewallRulesReadable ? 1 : 0)
    }

    /// Sets `fwdwatch_ip_inaddrerrors_total` to the kernel's value. A counter only grows: the growth is
    /// added, and a value that went backwards (the counters were reset) starts the counter again.
    private func setInAddrErrors(_ value: UInt64) {
        let clamped = Int64(clamping: value)
        lastInAddrErrors.withLock { last in
            if let previous = last, value >= previous {
                inAddrErrorsTotal.increment(by: Int64(clamping: value - previous))
            } else {
                inAddrErrorsTotal.reset()
                inAddrErrorsTotal.increment(by: clamped)
            }
            last = value
        }
    }

    /// Adds one sweep's drops of published ports (the observations of that sweep's own reading, not of the
    /// daemon's one-minute window) to `fwdwatch_dropped_packets_total{port,ingress,reason}`. A series appears
    /// with the first drop of its port, ingress and reason, and stays.
    public func recordDrops(_ observations: [DropObservation]) {
        for observation in observations where observation.count > 0 {
            registry.counter(
                Name.droppedPackets,
                labels: [("port", observation.port), ("ingress", observation.ingress), ("reason", observation.reason)],
                help: Help.droppedPackets
            ).increment(by: Int64(clamping: observation.count))
        }
    }

    /// The wall-clock time now, in seconds since 1970 (the timestamp gauges' unit).
    public static func unixNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Every metric in the Prometheus text format 0.0.4.
    public func exposition() -> String {
        registry.emitToString()
    }

    /// The metric names (fixed: alert rules use them).
    public enum Name {
        public static let problemActive = "fwdwatch_problem_active"
        public static let problems = "fwdwatch_problems"
        public static let alertsRaised = "fwdwatch_alerts_raised_total"
        public static let alertsResolved = "fwdwatch_alerts_resolved_total"
        public static let netlinkEvents = "fwdwatch_netlink_events_total"
        public static let netlinkResyncs = "fwdwatch_netlink_resyncs_total"
        public static let modelDisagreements = "fwdwatch_model_disagreements_total"
        public static let evaluations = "fwdwatch_evaluations_total"
        public static let evaluationDuration = "fwdwatch_evaluation_duration_seconds"
        public static let sweepDuration = "fwdwatch_sweep_duration_seconds"
        public static let lastEvent = "fwdwatch_last_event_timestamp_seconds"
        public static let lastEvaluation = "fwdwatch_last_evaluation_timestamp_seconds"
        public static let inAddrErrorsRate = "fwdwatch_inaddrerrors_per_second"
        public static let inAddrErrorsTotal = "fwdwatch_ip_inaddrerrors_total"
        public static let publishedPorts = "fwdwatch_published_ports"
        public static let firewallReadable = "fwdwatch_firewall_rules_readable"
        public static let buildInfo = "fwdwatch_build_info"
        public static let droppedPackets = "fwdwatch_dropped_packets_total"
    }

    enum Help {
        static let problemActive = "1 for each problem whose alert is raised and not yet resolved."
        static let problems = "Problems whose alerts are raised and not yet resolved, by severity."
        static let alertsRaised = "Alerts raised, by rule."
        static let alertsResolved = "Alerts resolved, by rule."
        static let netlinkEvents = "Netlink events applied to the model."
        static let netlinkResyncs = "Full re-reads of the netlink state after lost events (receive buffer overrun)."
        static let evaluations = "Evaluations of the rules."
        static let modelDisagreements = "Distinct disagreements between fwdwatch's model and the kernel's route lookup (the kernel decided)."
        static let evaluationDuration = "Time one evaluation of the rules took."
        static let sweepDuration = "Time one sweep of /proc and the firewall rules took."
        static let lastEvent = "Unix time of the last netlink event."
        static let lastEvaluation = "Unix time of the last evaluation."
        static let inAddrErrorsRate = "Growth of Ip InAddrErrors per second between the last two sweeps."
        static let inAddrErrorsTotal = "Ip InAddrErrors from /proc/net/snmp, as last read."
        static let publishedPorts = "Published ports, by whether every ingress interface reaches them."
        static let firewallReadable = "1 when the firewall rules could be read (published-port checks on), else 0."
        static let buildInfo = "Always 1; the version label is fwdwatch's version."
        static let droppedPackets =
            "Packets to published ports the kernel dropped, by port, ingress interface and drop reason (drop probe, [drops] enabled)."
    }
}

extension PrometheusCollectorRegistry {
    /// The gauge `name` with `labels`, made on first use (the same object afterwards).
    fileprivate func gauge(_ name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The counter `name` with `labels`, made on first use (the same object afterwards).
    fileprivate func counter(_ name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The histogram `name` with bucket bounds `buckets`, made on first use.
    fileprivate func durationHistogram(_ name: String, buckets: [Duration], help: String) -> DurationHistogram {
        makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), buckets: buckets)
    }
}
