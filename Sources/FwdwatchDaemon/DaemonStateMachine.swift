import FwdwatchConfig
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchNetlink
import FwdwatchProc

/// The daemon's decisions, without I/O: what to read, when to evaluate, what to log, what to tell
/// systemd, which timers to set. `handle(_:now:)` takes one input (a netlink state, a sweep tick, a
/// reading, the result of an evaluation) and returns the actions the driver carries out, in order.
/// Actions that produce a result (`.readHostFiles`, `.evaluate`, `.writeRepairs`) are answered by the
/// driver at once with the matching input, before the next input is handled.
///
/// The order of a start: the first netlink state, /proc read and rules read, then the first evaluation,
/// its alerts, the "started" notice, READY=1. A reload sends RELOADING=1 ... READY=1 (only once READY=1
/// was sent). WATCHDOG=1 is sent only when a watchdog tick reaches a turn, so a stuck loop gets the
/// daemon killed. The state lives in `State` (swift-service-lifecycle's `ServiceGroup.State` and
/// `UnixSignalsSequence.StateMachine` are the model).
struct DaemonStateMachine {
    // MARK: Inputs and actions

    enum Input: Sendable {
        /// The driver's first input: read the host, read the rules, set the timers.
        case start
        /// The netlink watcher is running; its event socket's receive buffer as the kernel reports it.
        case watcherStarted(receiveBufferSize: Int?)
        case netlink(NetlinkUpdate)
        /// The watcher's stream ended (after `.failed`, or at shutdown).
        case netlinkEnded
        case watcherRestartFailed(String)
        /// Whether nf_tables change notifications can be had (the nftables monitor subscribed, or why not).
        case firewallNotifications(NotificationAvailability)
        /// nf_tables committed a ruleset change (iptables-nft or native nftables).
        case firewallChanged
        /// A read of the rules, started by `.startFirewallRead`, finished.
        case firewallRead(FirewallReading)
        /// The answer to `.readHostFiles`: /proc, the sysctl.d and .network files, legacy tables.
        case hostFilesRead(HostFiles)
        /// SIGHUP, with the configuration file and the persistent settings as the driver read them.
        case reload(ReloadReading)
        case timer(DaemonTimer)
        /// The answer to `.evaluate`.
        case evaluated(EvaluationOutcome)
        /// The answer to `.writeRepairs`.
        case repaired(ForwardingRepairer.Outcome)
        /// SIGTERM or SIGINT: graceful shutdown began.
        case shutdown
    }

    enum Action {
        /// Hand the event to every output (alert sinks, metrics and textfile, sd_notify).
        case publish(DaemonEvent)
        /// A line for the daemon's own logger.
        case log(DaemonLogLine)
        /// Read /proc, the persistent settings and whether legacy x_tables exist; answer `.hostFilesRead`.
        case readHostFiles
        /// Ask the firewall reader's thread for a read; its result arrives later as `.firewallRead`.
        case startFirewallRead
        /// Evaluate the rules on this model; answer `.evaluated`.
        case evaluate(EvaluationRequest)
        /// Make the repairs `[repair]` allows; answer `.repaired`.
        case writeRepairs(RepairRequest)
        /// Deliver `.timer(timer)` after the delay, replacing the timer of that kind if one is pending.
        case schedule(DaemonTimer, after: Duration)
        /// Start a new netlink watcher (its failure arrives as `.watcherRestartFailed`).
        case restartWatcher(coalescingWindow: Duration)
        /// The loop is done: stop reading inputs.
        case finish
    }

    // MARK: State

    private enum State {
        /// Before READY=1: waiting for the first netlink state, /proc read and rules read, then for the
        /// first evaluation.
        case starting(Startup)
        /// READY=1 was sent.
        case running
        /// Shutdown began: every input is ignored.
        case stopping
    }

    private struct Startup {
        var hostFilesRead = false
        /// The first sweep's metrics wait for the first rules read (whether the rules are readable).
        var pendingSweep: SweepRecord?
        var evaluationRequested = false
    }

    /// nf_tables change notifications, as the nftables monitor reported them.
    private enum Notifications { case unknown, working, unavailable }

    private var state = State.starting(Startup())
    private(set) var configuration: Configuration
    private let start: ContinuousClock.Instant
    private let watchdogInterval: Duration?
    private var tracker: AlertTracker

    /// The model of the host the next evaluation reads.
    private var host = HostModel()
    private var firewallReads: FirewallReadScheduler
    private var notifications = Notifications.unknown

    /// An evaluation whose alerts wait for its repairs (repair first: every millisecond of forwarding=0 drops
    /// traffic; then the alert that called for it; then the repair).
    private var pendingTurn: EvaluatedTurn?
    private var lastStatus = ""
    private var flapTimerPending = false
    /// Disagreements between the model and the kernel already logged (at most 1,000 are remembered).
    private var reportedDisagreements: Set<String> = []
    private var receiveBufferSize: Int?
    private var counts = Counts()
    /// Why the drop probe is off, once said (it is said again only for another reason).
    private var reportedDropsUnavailable: String?
    /// When each (port, ingress, reason) last had a drop notice, in seconds since start.
    private var dropNotices: [String: Double] = [:]
    /// A port, ingress and reason that keeps dropping gets a notice at most this often.
    static let dropNoticeInterval = 60.0

    private struct Counts {
        var evaluations = 0
        var netlinkEvents = 0
        var resyncs = 0
        var routeQuestions = 0
    }

    /// Restarting a failed netlink watcher waits this long (and as long again after each failed attempt).
    static let watcherRestartDelay = Duration.seconds(1)
    /// A repair's own netconf event can be coalesced away: look again once the window (plus this) passed.
    static let repairFollowUpMargin = Duration.milliseconds(5)

    init(
        configuration: Configuration, start: ContinuousClock.Instant, watchdogInterval: Duration?,
        firewallReads: FirewallReadScheduler = FirewallReadScheduler()
    ) {
        self.configuration = configuration
        self.start = start
        self.watchdogInterval = watchdogInterval
        self.firewallReads = firewallReads
        tracker = AlertTracker(
            flapHoldSeconds: configuration.daemon.flapHold.seconds,
            settleSeconds: AlertTracker.settleSeconds(of: RuleRegistry.all))
    }

    /// Whether READY=1 was sent (the first evaluation is done) and shutdown has not begun.
    var isRunning: Bool {
        if case .running = state { return true }
        return false
    }

    // MARK: Handling inputs

    mutating func handle(_ input: Input, now: ContinuousClock.Instant) -> [Action] {
        if case .stopping = state { return [] }
        switch input {
        case .start:
            var actions: [Action] = [.readHostFiles]
            if firewallReads.readWanted(forChange: true) == .startRead { actions.append(.startFirewallRead) }
            actions.append(.schedule(.sweep, after: configuration.daemon.sweepInterval))
            if let watchdogInterval { actions.append(.schedule(.watchdog, after: watchdogInterval)) }
            return actions

        case .watcherStarted(let size):
            receiveBufferSize = size
            return []

        case .netlink(let update):
            return netlinkUpdated(update)

        case .netlinkEnded:
            return [.schedule(.watcherRestart, after: Self.watcherRestartDelay)]

        case .watcherRestartFailed(let error):
            return [
                .publish(.notice(DaemonNotices.netlinkCannotReopen(error))),
                .schedule(.watcherRestart, after: Self.watcherRestartDelay),
            ]

        case .firewallNotifications(.available):
            notifications = .working
            return []

        case .firewallNotifications(.unavailable(let reason)):
            notifications = .unavailable
            return [.publish(.notice(DaemonNotices.nftablesNotificationsUnavailable(reason)))]

        case .firewallChanged:
            return actions(for: firewallReads.notified(at: now))

        case .firewallRead(let reading):
            return firewallRead(reading)

        case .hostFilesRead(let files):
            return hostFilesRead(files, now: now)

        case .reload(let reading):
            return reload(reading)

        case .timer(let timer):
            return timerFired(timer, now: now)

        case .evaluated(let outcome):
            return evaluated(outcome, now: now)

        case .repaired(let outcome):
            guard let turn = pendingTurn else { return [] }
            pendingTurn = nil
            return finishTurn(turn, repairs: outcome, now: now)

        case .shutdown:
            state = .stopping
            return [
                .publish(.systemd(.stopping)),
                .publish(
                    .notice(
                        DaemonNotices.stopped(
                            evaluations: counts.evaluations, netlinkEvents: counts.netlinkEvents,
                            resyncs: counts.resyncs, routeQuestions: counts.routeQuestions))),
                .finish,
            ]
        }
    }

    private mutating func netlinkUpdated(_ update: NetlinkUpdate) -> [Action] {
        switch update {
        case .initial(let netlink):
            host.netlinkChanged(netlink)
            return evaluateIfReady()
        case .changed(let netlink, let events):
            host.netlinkChanged(netlink)
            counts.netlinkEvents += events
            return [.publish(.netlinkEvents(events))] + evaluateIfReady()
        case .resynced(let netlink, let reason):
            host.netlinkChanged(netlink)
            counts.resyncs += 1
            return [
                .publish(.netlinkResynced),
                .publish(.notice(DaemonNotices.netlinkResynced(reason: reason, resyncs: counts.resyncs))),
            ] + evaluateIfReady()
        case .failed(let reason):
            // The stream ends next (`.netlinkEnded`), which restarts the watcher.
            return [.publish(.notice(DaemonNotices.netlinkWatcherFailed(reason)))]
        }
    }

    private mutating func timerFired(_ timer: DaemonTimer, now: ContinuousClock.Instant) -> [Action] {
        switch timer {
        case .sweep:
            return [
                .publish(.retryBacklog), .readHostFiles,
                .schedule(.sweep, after: configuration.daemon.sweepInterval),
            ]
        case .watchdog:
            guard let watchdogInterval else { return [] }
            return [.publish(.systemd(.watchdog)), .schedule(.watchdog, after: watchdogInterval)]
        case .firewallQuiet:
            return actions(for: firewallReads.quietCheckDue(at: now))
        case .flapHold:
            flapTimerPending = false
            return evaluateIfReady()
        case .repairFollowUp:
            return evaluateIfReady()
        case .watcherRestart:
            return [.restartWatcher(coalescingWindow: configuration.daemon.coalescingWindow)]
        }
    }

    // MARK: Readings

    private mutating func hostFilesRead(_ files: HostFiles, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if let failure = host.apply(files, at: now) { actions.append(.log(DaemonNotices.procReadFailed(failure))) }
        if case .unavailable(let reason)? = files.drops, reason != reportedDropsUnavailable {
            reportedDropsUnavailable = reason
            actions.append(.publish(.notice(DaemonNotices.dropsUnavailable(reason))))
        }
        let sweep = SweepRecord(
            duration: files.duration, dropSample: host.dropSample, inAddrErrors: host.proc.ipCounters["InAddrErrors"],
            firewallRulesReadable: host.firewall?.unavailableReason == nil)
        switch state {
        case .starting(var startup):
            startup.hostFilesRead = true
            if host.firewall == nil { startup.pendingSweep = sweep } else { actions.append(.publish(.swept(sweep))) }
            state = .starting(startup)
        case .running:
            actions.append(.publish(.swept(sweep)))
            if sweepRunsRuleTools { actions += self.actions(for: firewallReads.readWanted(forChange: false)) }
        case .stopping:
            break
        }
        return actions + evaluateIfReady()
    }

    /// Whether a sweep reads the rules too: when nf_tables notifications are not known to work, or when
    /// iptables-legacy tables exist (x_tables announces nothing; FirewallReader keeps legacy tables only
    /// when they hold rules, and /proc/net/ip_tables_names lists the tables the kernel has).
    var sweepRunsRuleTools: Bool {
        notifications != .working || host.legacyTablesInKernel == true || host.firewall?.holdsLegacyTables == true
    }

    private mutating func firewallRead(_ reading: FirewallReading) -> [Action] {
        var actions: [Action] = []
        let previousReason = host.firewall?.unavailableReason
        let changed = host.firewallChanged(reading)
        if let reason = reading.unavailableReason, reason != previousReason {
            actions.append(.publish(.notice(DaemonNotices.publishedPortChecksOff(reason))))
        }
        actions += self.actions(for: firewallReads.readFinished())
        if case .starting(var startup) = state, var sweep = startup.pendingSweep {
            sweep.firewallRulesReadable = reading.unavailableReason == nil
            startup.pendingSweep = nil
            state = .starting(startup)
            actions.append(.publish(.swept(sweep)))
        }
        return changed ? actions + evaluateIfReady() : actions
    }

    private func actions(for step: FirewallReadScheduler.Step?) -> [Action] {
        switch step {
        case .startRead: [.startFirewallRead]
        case .checkQuietAfter(let delay): [.schedule(.firewallQuiet, after: delay)]
        case nil: []
        }
    }

    // MARK: Reload

    private mutating func reload(_ reading: ReloadReading) -> [Action] {
        let announced = isRunning
        var actions: [Action] = announced ? [.publish(.systemd(.reloading))] : []
        host.persistentSettings = reading.persistentSettings
        switch reading.configuration {
        case .success(let fresh):
            let atRestart = configuration.keysNeedingRestart(fresh)
            let sweepChanged = fresh.daemon.sweepInterval != configuration.daemon.sweepInterval
            configuration = fresh
            host.rulesVersion += 1  // the settings choose ingresses and bridges: start the memo afresh
            if sweepChanged { actions.append(.schedule(.sweep, after: fresh.daemon.sweepInterval)) }
            actions.append(.publish(.notice(DaemonNotices.reloaded(from: fresh.path, keysNeedingRestart: atRestart))))
        case .failure(let error):
            actions.append(.publish(.notice(DaemonNotices.reloadFailed(error))))
        }
        if announced { actions.append(.publish(.systemd(.ready))) }
        return actions + evaluateIfReady()
    }

    // MARK: Evaluation

    /// `.evaluate` when the model is complete: always once running; while starting, once the first netlink
    /// state, /proc read and rules read are in (the first evaluation is a full one).
    private mutating func evaluateIfReady() -> [Action] {
        guard let request = host.evaluationRequest(settings: configuration.settings) else { return [] }
        switch state {
        case .running:
            break
        case .starting(var startup):
            guard startup.hostFilesRead, host.firewall != nil, !startup.evaluationRequested else { return [] }
            startup.evaluationRequested = true
            state = .starting(startup)
        case .stopping:
            return []
        }
        host.routeAnswers = .keep
        host.newDrops = nil  // handed to this evaluation: noticed and counted once
        return [.evaluate(request)]
    }

    private mutating func evaluated(_ outcome: EvaluationOutcome, now: ContinuousClock.Instant) -> [Action] {
        counts.evaluations += 1
        counts.routeQuestions = outcome.routeQuestionsAsked
        let transitions = tracker.update(outcome.evaluation.findings, now: seconds(now))
        var actions: [Action] = []
        if let failure = outcome.newRouteLookupFailure {
            actions.append(.publish(.notice(DaemonNotices.routeLookupFailed(failure))))
        }
        let disagreements = outcome.evaluation.modelDisagreements.filter { !reportedDisagreements.contains($0) }
        if reportedDisagreements.count < 1000 { reportedDisagreements.formUnion(disagreements) }
        for text in disagreements.prefix(DaemonNotices.disagreementsLoggedPerEvaluation) {
            actions.append(.publish(.notice(DaemonNotices.modelDisagreement(text))))
        }
        actions.append(.publish(.modelDisagreements(disagreements.count)))
        actions += dropsObserved(outcome.newDropObservations, now: now)
        let turn = EvaluatedTurn(evaluation: outcome.evaluation, transitions: transitions, duration: outcome.duration)
        guard configuration.repair.forwarding else { return actions + finishTurn(turn, repairs: nil, now: now) }
        pendingTurn = turn
        actions.append(
            .writeRepairs(
                RepairRequest(
                    findings: outcome.evaluation.findings, allForwarding: outcome.allForwarding,
                    policy: configuration.repair, settings: configuration.settings, now: seconds(now))))
        return actions
    }

    /// What follows an evaluation (and its repairs): the alerts, the repair notices, metrics, STATUS=,
    /// on the first one the "started" notice and READY=1, and the flap-hold timer.
    private mutating func finishTurn(
        _ turn: EvaluatedTurn, repairs: ForwardingRepairer.Outcome?, now: ContinuousClock.Instant
    ) -> [Action] {
        var actions: [Action] = []
        if !turn.transitions.isEmpty { actions.append(.publish(.transitions(turn.transitions))) }
        for notice in repairs?.notices ?? [] { actions.append(.publish(.notice(notice))) }
        if repairs?.wrote == true {
            actions.append(
                .schedule(.repairFollowUp, after: configuration.daemon.coalescingWindow + Self.repairFollowUpMargin))
        }
        actions.append(
            .publish(
                .evaluated(
                    EvaluationRecord(
                        evaluation: turn.evaluation, alerts: tracker.active + tracker.clearing,
                        transitions: turn.transitions, duration: turn.duration))))
        let status = Report.statusLine(turn.evaluation)
        if status != lastStatus {
            lastStatus = status
            actions.append(.publish(.systemd(.status(status))))
        }
        if case .starting = state {
            state = .running
            actions.append(
                .publish(
                    .notice(
                        DaemonNotices.started(
                            status: status, configurationPath: configuration.path, receiveBufferSize: receiveBufferSize))))
            actions.append(.publish(.systemd(.ready)))
        }
        if !flapTimerPending, let deadline = tracker.nextDeadline {
            flapTimerPending = true
            let delay = max(0, deadline - seconds(now))
            actions.append(.schedule(.flapHold, after: .milliseconds(Int(delay * 1000) + 1)))
        }
        return actions
    }

    private func seconds(_ instant: ContinuousClock.Instant) -> Double { (instant - start).seconds }

    /// New drops of published ports: counted in the metrics, and a notice naming the clients, the port, the
    /// ingress and the kernel's reason, at most once a minute for each port, ingress and reason (the findings
    /// carry the drops as evidence too, but an alert already raised is not logged again).
    private mutating func dropsObserved(_ observations: [DropObservation], now: ContinuousClock.Instant) -> [Action] {
        guard !observations.isEmpty else { return [] }
        var actions: [Action] = [.publish(.drops(observations))]
        let time = seconds(now)
        for observation in observations {
            let key = "\(observation.port) \(observation.ingress) \(observation.reason)"
            if let last = dropNotices[key], time - last < Self.dropNoticeInterval { continue }
            dropNotices[key] = time
            actions.append(.publish(.notice(DaemonNotices.dropsObserved(observation))))
        }
        if dropNotices.count > 10_000 { dropNotices = dropNotices.filter { time - $0.value < Self.dropNoticeInterval } }
        return actions
    }
}

/// An evaluation waiting for its repairs.
private struct EvaluatedTurn {
    var evaluation: Evaluation
    var transitions: [AlertTransition]
    var duration: Duration
}

/// Whether nf_tables change notifications can be had.
enum NotificationAvailability: Sendable, Equatable {
    case available
    case unavailable(reason: String)
}

/// SIGHUP's reading: the configuration file (or why it cannot be used) and the persistent settings.
struct ReloadReading: Sendable {
    var configuration: Result<Configuration, ConfigurationError>
    var persistentSettings: [PersistentSetting]?
}

extension Configuration {
    /// Daemon keys a reload cannot change in a running daemon (they shape the watcher, the tracker, the
    /// sinks and the metrics, which are made once at start).
    func keysNeedingRestart(_ fresh: Configuration) -> [String] {
        var keys: [String] = []
        if fresh.daemon.coalescingWindow != daemon.coalescingWindow { keys.append("daemon.coalesce-milliseconds") }
        if fresh.daemon.flapHold != daemon.flapHold { keys.append("daemon.flap-hold-seconds") }
        if fresh.daemon.logTarget != daemon.logTarget { keys.append("daemon.log-target") }
        if fresh.metrics.listen != metrics.listen { keys.append("metrics.listen") }
        if fresh.metrics.textfileDirectory != metrics.textfileDirectory { keys.append("metrics.textfile-directory") }
        if fresh.drops.enabled != drops.enabled { keys.append("drops.enabled") }
        return keys
    }
}
