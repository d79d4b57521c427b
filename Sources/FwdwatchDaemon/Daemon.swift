import FwdwatchConfig
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchMetrics
import FwdwatchNetlink
import FwdwatchProc
import Logging
import ServiceLifecycle
import UnixSignals
import Synchronization

/// `fwdwatch run`: keeps a live model of the forwarding path, re-evaluates the rules whenever
/// anything changes and logs each problem once when it appears and once when it clears.
///
/// One event loop owns all state. Its inputs arrive on one stream: netlink updates (from the
/// watcher's own thread, already coalesced), sweep ticks (for what has no events), watchdog ticks,
/// SIGHUP, and the end of a flap hold. The loop answers every input with one turn:
/// apply, evaluate, log transitions, update STATUS=; WATCHDOG=1 is sent only by a turn, so a
/// hung loop gets the daemon killed.
public struct Daemon: Service {
    public struct Options: Sendable {
        /// The configuration file SIGHUP re-reads; nil = the default path, missing = defaults.
        public var configPath: String?
        public var procRoot: String
        public var receiveBufferBytes: Int
        /// Prometheus metrics to keep up to date (and, with `[metrics] textfile-directory`, to write out);
        /// nil = no metrics.
        public var metrics: DaemonMetrics?

        public init(configPath: String? = nil, procRoot: String = "/", receiveBufferBytes: Int = 4 << 20) {
            self.configPath = configPath
            self.procRoot = procRoot
            self.receiveBufferBytes = receiveBufferBytes
        }
    }

    let options: Options
    let configuration: Configuration
    let sink: any AlertSink
    let notifier: SystemdNotifier
    let logger: Logger

    public init(
        options: Options, configuration: Configuration, sink: any AlertSink, notifier: SystemdNotifier,
        logger: Logger
    ) {
        self.options = options
        self.configuration = configuration
        self.sink = sink
        self.notifier = notifier
        self.logger = logger
    }

    enum Input: Sendable {
        case netlink(NetlinkUpdate)
        case netlinkEnded
        case sweep
        /// nf_tables committed a ruleset change (iptables-nft or native nftables).
        case firewallChanged
        case watchdog
        case reload
        case flapHoldExpired
        /// A repair's coalescing window has passed: evaluate again (see `ForwardingRepairer.Outcome.wrote`).
        case repairFollowUp
    }

    public func run() async throws {
        let (inputs, feed) = AsyncStream<Input>.makeStream()
        let sweepInterval = Locked(configuration.daemon.sweepInterval)
        let watcher = Locked<NetlinkWatcher?>(nil)
        let shuttingDown = Locked(false)

        func startWatcher(window: Duration) throws -> AsyncStream<NetlinkUpdate> {
            let fresh = NetlinkWatcher(receiveBufferBytes: options.receiveBufferBytes, coalescingWindow: window)
            let updates = try fresh.updates()
            watcher.withLock { $0 = fresh }
            return updates
        }

        let firstUpdates = try startWatcher(window: configuration.daemon.coalescingWindow)
        var state = LoopState(
            configuration: configuration, procReader: ProcReader(root: options.procRoot), clock: ContinuousClock())

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                func forward(_ updates: AsyncStream<NetlinkUpdate>) {
                    group.addTask {
                        for await update in updates { feed.yield(.netlink(update)) }
                        feed.yield(.netlinkEnded)
                    }
                }
                forward(firstUpdates)
                let nftables = NftablesMonitor()
                do {
                    let changes = try nftables.changes()
                    group.addTask {
                        for await _ in changes { feed.yield(.firewallChanged) }
                    }
                } catch {
                    sink.notice(
                        DaemonNotice(
                            "nftables change notifications are unavailable (\(error)); rule changes are seen at the next sweep.",
                            id: JournalMessageID.error, priority: .notice))
                }
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { feed.yield(.reload) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        let interval = sweepInterval.withLock { $0 }
                        guard (try? await Task.sleep(for: interval)) != nil else { return }
                        feed.yield(.sweep)
                    }
                }
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while (try? await Task.sleep(for: interval)) != nil { feed.yield(.watchdog) }
                    }
                }

                var textfile = options.metrics.flatMap { _ in
                    configuration.metrics.textfileDirectory.map { MetricsTextfile(directory: $0) }
                }
                func sweep() {
                    let started = ContinuousClock.now
                    let unavailable = state.sweep(logger: logger)
                    options.metrics?.recordSweep(
                        duration: .now - started, dropSample: state.dropSample,
                        inAddrErrors: state.proc.ipCounters["InAddrErrors"],
                        firewallRulesReadable: state.firewall?.unavailableReason == nil)
                    if let reason = unavailable {
                        sink.notice(
                            DaemonNotice(
                                "Published-port checks are off: \(reason)", id: JournalMessageID.error,
                                priority: .warning))
                    }
                }
                sweep()
                var flapTimerPending = false
                var ready = false
                var lastStatus = ""
                for await input in inputs {
                    switch input {
                    case .netlink(.initial(let netlink)):
                        state.netlink = netlink
                    case .netlink(.changed(let netlink, let events)):
                        state.netlink = netlink
                        state.eventsProcessed += events
                        options.metrics?.recordNetlinkEvents(events)
                    case .netlink(.resynced(let netlink, let reason)):
                        state.netlink = netlink
                        state.resyncs += 1
                        options.metrics?.recordResync()
                        sink.notice(
                            DaemonNotice(
                                "Netlink events were lost (\(reason)); the whole state was re-read and compared.",
                                id: JournalMessageID.resynced, priority: .notice,
                                fields: [("FWDWATCH_RESYNCS", String(state.resyncs))]))
                    case .netlink(.failed(let reason)):
                        sink.notice(
                            DaemonNotice(
                                "The netlink watcher failed: \(reason); restarting it.", id: JournalMessageID.error,
                                priority: .error))
                        continue
                    case .netlinkEnded:
                        // The watcher ends its stream after `.failed`, or because shutdown stopped it.
                        guard !shuttingDown.withLock({ $0 }) else { continue }
                        try? await Task.sleep(for: .seconds(1))
                        guard !shuttingDown.withLock({ $0 }) else { continue }
                        do {
                            forward(try startWatcher(window: state.configuration.daemon.coalescingWindow))
                        } catch {
                            sink.notice(
                                DaemonNotice(
                                    "Cannot reopen netlink: \(error); retrying.", id: JournalMessageID.error,
                                    priority: .error))
                            feed.yield(.netlinkEnded)
                        }
                        continue
                    case .sweep:
                        sink.retryBacklog()
                        sweep()
                    case .firewallChanged:
                        if let reason = state.readFirewall() {
                            sink.notice(
                                DaemonNotice(
                                    "Published-port checks are off: \(reason)", id: JournalMessageID.error,
                                    priority: .warning))
                        }
                    case .watchdog:
                        notifier.watchdog()
                        continue
                    case .reload:
                        notifier.reloading()
                        state.readPersistentSettings()
                        switch Result(catching: { () throws(ConfigurationError) in
                            try ConfigurationFile.load(path: options.configPath)
                        }) {
                        case .success(let fresh):
                            let atRestart = state.keysNeedingRestart(fresh)
                            state.apply(fresh)
                            sweepInterval.withLock { $0 = fresh.daemon.sweepInterval }
                            let pending =
                                atRestart.isEmpty
                                ? "" : " \(atRestart.joined(separator: ", ")) changed and take effect at the next restart."
                            sink.notice(
                                DaemonNotice(
                                    "Configuration reloaded from \(fresh.path ?? "built-in defaults").\(pending)",
                                    id: JournalMessageID.reloaded, priority: .info))
                        case .failure(let error):
                            sink.notice(
                                DaemonNotice(
                                    "Configuration not reloaded, the previous one stays in force: \(error)",
                                    id: JournalMessageID.reloadFailed, priority: .error,
                                    fields: [("CONFIG_FILE", error.path)]
                                        + (error.line.map { [("CONFIG_LINE", String($0))] } ?? [])))
                        }
                        notifier.ready()
                    case .flapHoldExpired:
                        flapTimerPending = false
                    case .repairFollowUp:
                        break
                    }
                    guard state.netlink != nil else { continue }

                    let evaluationStarted = ContinuousClock.now
                    let transitions = await state.evaluate()
                    let evaluationTook = ContinuousClock.now - evaluationStarted
                    if let failure = state.routeDecisionCache.takeNewFailure() {
                        sink.notice(
                            DaemonNotice(
                                "The kernel's route lookup failed (\(failure)); paths are judged by fwdwatch's own "
                                    + "model until it answers again.", id: JournalMessageID.error, priority: .warning))
                    }
                    let disagreements = state.takeNewDisagreements()
                    for text in disagreements.prefix(10) {
                        sink.notice(
                            DaemonNotice(
                                "fwdwatch's model and the kernel's route lookup disagree; the kernel decided: \(text). "
                                    + "Please report this with `fwdwatch snapshot`.",
                                id: JournalMessageID.modelDisagreement, priority: .notice,
                                fields: [("FWDWATCH_DISAGREEMENT", text)]))
                    }
                    options.metrics?.recordModelDisagreements(disagreements.count)
                    // Repair first (every millisecond of forwarding=0 drops traffic), then log the alert
                    // that called for it, then the repair.
                    let repairs = state.repair()
                    if !transitions.isEmpty { sink.emit(transitions) }
                    for notice in repairs.notices { sink.notice(notice) }
                    if repairs.wrote {
                        let delay = state.configuration.daemon.coalescingWindow + .milliseconds(5)
                        group.addTask {
                            try? await Task.sleep(for: delay)
                            feed.yield(.repairFollowUp)
                        }
                    }
                    if let metrics = options.metrics {
                        let changed = metrics.recordEvaluation(
                            state.lastEvaluation, alerts: state.tracker.active + state.tracker.clearing,
                            transitions: transitions, duration: evaluationTook)
                        switch textfile?.update(now: .now, problemStateChanged: changed, text: metrics.exposition) {
                        case .failed(let reason):
                            sink.notice(
                                DaemonNotice(
                                    "Cannot write the metrics textfile (\(reason)); retrying after each evaluation.",
                                    id: JournalMessageID.error, priority: .warning))
                        case .recovered:
                            sink.notice(
                                DaemonNotice(
                                    "The metrics textfile \(textfile?.path ?? "") is written again.",
                                    id: JournalMessageID.error, priority: .notice))
                        case .quiet, nil:
                            break
                        }
                    }
                    let status = Report.statusLine(state.lastEvaluation)
                    if status != lastStatus {
                        notifier.status(status)
                        lastStatus = status
                    }
                    if !ready {
                        ready = true
                        // The "started" entry goes first, so it precedes systemd's own "Started" line.
                        let buffer = watcher.withLock { $0?.receiveBufferSize }
                        sink.notice(
                            DaemonNotice(
                                "fwdwatch started: \(Report.statusLine(state.lastEvaluation)).",
                                id: JournalMessageID.started, priority: .info,
                                fields: [
                                    ("FWDWATCH_CONFIG", state.configuration.path ?? "built-in defaults"),
                                    ("FWDWATCH_NETLINK_RECEIVE_BUFFER", buffer.map(String.init) ?? "unknown"),
                                ]))
                        notifier.ready()
                    }
                    if !flapTimerPending, let deadline = state.tracker.nextDeadline {
                        flapTimerPending = true
                        let delay = max(0, deadline - state.now())
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(Int(delay * 1000) + 1))
                            feed.yield(.flapHoldExpired)
                        }
                    }
                }
                nftables.stop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Set before the watcher stops, so the end of its stream is not taken for a failure.
            shuttingDown.withLock { $0 = true }
            notifier.stopping()
            watcher.withLock { $0?.stop() }
            feed.finish()
        }
        sink.notice(
            DaemonNotice(
                "fwdwatch stopped after \(state.evaluations) evaluations of \(state.eventsProcessed) netlink events "
                    + "(\(state.resyncs) resyncs, \(state.routeDecisionCache.questionsAsked) route questions asked).",
                id: JournalMessageID.stopping, priority: .info,
                fields: [
                    ("FWDWATCH_EVALUATIONS", String(state.evaluations)),
                    ("FWDWATCH_NETLINK_EVENTS", String(state.eventsProcessed)),
                    ("FWDWATCH_RESYNCS", String(state.resyncs)),
                    ("FWDWATCH_ROUTE_QUESTIONS", String(state.routeDecisionCache.questionsAsked)),
                ]))
    }
}

/// Everything the event loop knows between turns.
struct LoopState {
    var configuration: Configuration
    var evaluator: Evaluator
    var tracker: AlertTracker
    let procReader: ProcReader
    let clock: ContinuousClock
    let start: ContinuousClock.Instant

    var netlink: NetlinkState? {
        didSet { if let netlink { routeDecisionCache.dropIfRoutingChanged(from: oldValue, to: netlink) } }
    }
    var proc = ProcState()
    var lastCounters: (counters: [String: UInt64], at: ContinuousClock.Instant)?
    var dropSample: DropSample?
    /// The netfilter rules, re-read on every sweep and on nf_tables change notifications.
    var firewall: FirewallReading? {
        didSet {
            if firewall != oldValue {
                routeDecisionCache.drop()
                rulesVersion += 1
            }
        }
    }
    /// Bumped whenever the rules (or the settings) change: the evaluation memo is kept while it holds.
    var rulesVersion = 0
    /// What the last evaluation leaves for the next (rule index, ports, forward verdicts).
    var memo = EvaluationMemo()
    /// The kernel's route answers, asked at each evaluation for what is not cached.
    var routeDecisionCache = RouteDecisionCache()
    /// The sysctl.d / .network lines bad values come back from, re-read on every sweep and on SIGHUP.
    var persistentSettings: [PersistentSetting]?
    var lastEvaluation = Evaluation(findings: [])
    /// Disagreements between the model and the kernel already logged.
    var reportedDisagreements: Set<String> = []
    /// `net.ipv4.conf.all.forwarding` as the last evaluation saw it: repairs are made only while it is 1.
    var allForwarding: Int?
    /// Opt-in repair of per-interface forwarding (`[repair]`), with its rate limit.
    var repairer: ForwardingRepairer
    var eventsProcessed = 0
    var resyncs = 0
    var evaluations = 0

    init(configuration: Configuration, procReader: ProcReader, clock: ContinuousClock) {
        self.configuration = configuration
        self.evaluator = Evaluator(settings: configuration.settings)
        self.tracker = AlertTracker(
            flapHoldSeconds: configuration.daemon.flapHold.seconds,
            settleSeconds: AlertTracker.settleSeconds(of: RuleRegistry.all))
        self.procReader = procReader
        self.repairer = ForwardingRepairer(writer: ProcWriter(root: procReader.root))
        self.clock = clock
        self.start = clock.now
    }

    func now() -> Double { (clock.now - start).seconds }

    /// Reads what emits no event: the /proc sysctls, conntrack fill, the drop counters and the
    /// firewall rules. A failed read keeps the last good values. Returns the reason the firewall rules
    /// became unreadable, once, when they do.
    mutating func sweep(logger: Logger) -> String? {
        // ip rules and sysctls without events (route_localnet, accept_local) change route answers silently.
        routeDecisionCache.drop()
        let newlyUnavailable = readFirewall()
        readPersistentSettings()
        do {
            proc = try procReader.read()
        } catch {
            logger.warning("reading /proc failed, keeping the last values", metadata: ["error": "\(error)"])
            return newlyUnavailable
        }
        let at = clock.now
        if let last = lastCounters {
            dropSample = DropSample(from: last.counters, to: proc.ipCounters, seconds: (at - last.at).seconds)
        }
        lastCounters = (proc.ipCounters, at)
        return newlyUnavailable
    }

    /// Re-reads the netfilter rules (on every sweep, and at once when nf_tables announces a change).
    /// Returns the reason they became unreadable, once, when they do.
    mutating func readFirewall() -> String? {
        let previous = firewall?.unavailableReason
        // The read still runs on the event loop's task, which sends WATCHDOG=1 (the unit's WatchdogSec is
        // 30 s): 8 s per tool keeps the usual three (iptables-nft-save, iptables-legacy-save, nft) inside it.
        // `fwdwatch check`, with no watchdog, allows a tool 30 s.
        firewall = FirewallReader(runner: ToolRunner(timeout: .seconds(8))).read()
        return firewall?.unavailableReason.flatMap { $0 == previous ? nil : $0 }
    }

    /// Re-reads the sysctl.d and .network files below the proc root (never fails: unreadable files are skipped).
    mutating func readPersistentSettings() {
        persistentSettings = PersistentSettingsReader(root: procReader.root).read()
    }

    /// Daemon keys a reload cannot change in a running daemon (they shape the watcher, the tracker
    /// and the sinks, which are made once at start).
    func keysNeedingRestart(_ fresh: Configuration) -> [String] {
        var keys: [String] = []
        let old = configuration.daemon
        if fresh.daemon.coalescingWindow != old.coalescingWindow { keys.append("daemon.coalesce-milliseconds") }
        if fresh.daemon.flapHold != old.flapHold { keys.append("daemon.flap-hold-seconds") }
        if fresh.daemon.logTarget != old.logTarget { keys.append("daemon.log-target") }
        if fresh.metrics.listen != configuration.metrics.listen { keys.append("metrics.listen") }
        if fresh.metrics.textfileDirectory != configuration.metrics.textfileDirectory {
            keys.append("metrics.textfile-directory")
        }
        return keys
    }

    mutating func apply(_ fresh: Configuration) {
        configuration = fresh
        evaluator.settings = fresh.settings
        rulesVersion += 1  // the settings choose ingresses and bridges: start the memo afresh
    }

    mutating func evaluate() async -> [AlertTransition] {
        guard let netlink else { return [] }
        var snapshot = SnapshotAssembler.assemble(
            netlink: netlink, proc: proc, dropSample: dropSample, firewall: firewall)
        snapshot.persistentSettings = persistentSettings
        snapshot.routeDecisions = await routeDecisionCache.decisions(
            for: snapshot, settings: configuration.settings, memo: &memo, rulesVersion: rulesVersion)
        lastEvaluation = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: rulesVersion)
        allForwarding = snapshot.ipv4Conf["all"]?.forwarding
        evaluations += 1
        return tracker.update(lastEvaluation.findings, now: now())
    }

    /// The disagreements between the model and the kernel seen for the first time in the last evaluation
    /// (each is logged once per run; at most 1,000 are remembered).
    mutating func takeNewDisagreements() -> [String] {
        let fresh = lastEvaluation.modelDisagreements.filter { !reportedDisagreements.contains($0) }
        if reportedDisagreements.count < 1000 { reportedDisagreements.formUnion(fresh) }
        return fresh
    }

    /// Makes the repairs `[repair]` allows for the last evaluation (read each turn, so a reload applies
    /// at once).
    mutating func repair() -> ForwardingRepairer.Outcome {
        repairer.repair(
            findings: lastEvaluation.findings, allForwarding: allForwarding, policy: configuration.repair,
            settings: configuration.settings, now: now())
    }
}

/// A value shared between the event loop and its helper tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
