import FwdwatchCore
import FwdwatchJournal
import FwdwatchMetrics

/// What the daemon tells the world, one event at a time; every output receives every event and acts on
/// those that concern it (node-problem-detector's exporters).
enum DaemonEvent: Sendable {
    /// Alert transitions, in the tracker's order (worst first, resolutions last).
    case transitions([AlertTransition])
    case notice(DaemonNotice)
    case systemd(SystemdNotification)
    case evaluated(EvaluationRecord)
    /// Netlink messages applied to the model.
    case netlinkEvents(Int)
    /// A full re-read after lost netlink events.
    case netlinkResynced
    case swept(SweepRecord)
    /// New distinct disagreements between the model and the kernel's route lookup.
    case modelDisagreements(Int)
    /// A sweep: re-send what an unreachable journald held back.
    case retryBacklog
    /// Drops of published ports the probe counted since the last evaluation (for the metrics).
    case drops([DropObservation])
}

/// What the daemon tells the service manager.
enum SystemdNotification: Sendable, Equatable {
    case ready
    case reloading
    case stopping
    case status(String)
    case watchdog
}

/// One evaluation, for the metrics.
struct EvaluationRecord: Sendable {
    var evaluation: Evaluation
    /// Alerts raised and not yet resolved (`AlertTracker.active` plus `.clearing`).
    var alerts: [Finding]
    var transitions: [AlertTransition]
    var duration: Duration
}

/// One sweep, for the metrics.
struct SweepRecord: Sendable, Equatable {
    var duration: Duration
    var dropSample: DropSample?
    var inAddrErrors: UInt64?
    var firewallRulesReadable: Bool
}

/// Where the daemon's events go. An output ignores the events that do not concern it; it returns notices
/// about itself (a textfile that cannot be written), which the driver hands to every output.
protocol DaemonOutput: Sendable {
    mutating func deliver(_ event: DaemonEvent) -> [DaemonNotice]
}

/// Alerts and notices to journald, the console or JSON lines.
struct AlertSinkOutput: DaemonOutput {
    let sink: any AlertSink

    func deliver(_ event: DaemonEvent) -> [DaemonNotice] {
        switch event {
        case .transitions(let transitions): sink.emit(transitions)
        case .notice(let notice): sink.notice(notice)
        case .retryBacklog: sink.retryBacklog()
        case .systemd, .evaluated, .netlinkEvents, .netlinkResynced, .swept, .modelDisagreements, .drops: break
        }
        return []
    }
}

/// READY, RELOADING, STOPPING, STATUS and WATCHDOG through sd_notify.
struct SystemdOutput: DaemonOutput {
    let notifier: SystemdNotifier

    func deliver(_ event: DaemonEvent) -> [DaemonNotice] {
        guard case .systemd(let notification) = event else { return [] }
        switch notification {
        case .ready: notifier.ready()
        case .reloading: notifier.reloading()
        case .stopping: notifier.stopping()
        case .status(let text): notifier.status(text)
        case .watchdog: notifier.watchdog()
        }
        return []
    }
}

/// The Prometheus registry (served by the endpoint) and, when configured, the node_exporter textfile.
struct MetricsOutput: DaemonOutput {
    let metrics: DaemonMetrics
    var textfile: MetricsTextfile?

    mutating func deliver(_ event: DaemonEvent) -> [DaemonNotice] {
        switch event {
        case .evaluated(let record):
            let changed = metrics.recordEvaluation(
                record.evaluation, alerts: record.alerts, transitions: record.transitions, duration: record.duration)
            guard var file = textfile else { return [] }
            let outcome = file.update(now: .now, problemStateChanged: changed, text: metrics.exposition)
            textfile = file
            switch outcome {
            case .failed(let reason): return [DaemonNotices.textfileFailed(reason)]
            case .recovered: return [DaemonNotices.textfileRecovered(path: file.path)]
            case .quiet: return []
            }
        case .netlinkEvents(let count):
            metrics.recordNetlinkEvents(count)
        case .netlinkResynced:
            metrics.recordResync()
        case .swept(let sweep):
            metrics.recordSweep(
                duration: sweep.duration, dropSample: sweep.dropSample, inAddrErrors: sweep.inAddrErrors,
                firewallRulesReadable: sweep.firewallRulesReadable)
        case .modelDisagreements(let count):
            metrics.recordModelDisagreements(count)
        case .drops(let observations):
            metrics.recordDrops(observations)
        case .transitions, .notice, .systemd, .retryBacklog:
            break
        }
        return []
    }
}
