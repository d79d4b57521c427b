import FwdwatchConfig
import FwdwatchCore
import FwdwatchJournal
import FwdwatchProc
import Logging

/// Every notice the daemon logs about itself, in one place: its text, MESSAGE_ID, priority and fields.
/// The state machine and the drivers only pick one; none writes a text of its own.
enum DaemonNotices {
    // MARK: Start and stop

    /// After the first full evaluation, just before READY=1 (so it precedes systemd's own "Started" line).
    static func started(status: String, configurationPath: String?, receiveBufferSize: Int?) -> DaemonNotice {
        DaemonNotice(
            "fwdwatch started: \(status).", id: JournalMessageID.started, priority: .info,
            fields: [
                ("FWDWATCH_CONFIG", configurationPath ?? builtInDefaults),
                ("FWDWATCH_NETLINK_RECEIVE_BUFFER", receiveBufferSize.map(String.init) ?? "unknown"),
            ])
    }

    static func stopped(evaluations: Int, netlinkEvents: Int, resyncs: Int, routeQuestions: Int) -> DaemonNotice {
        DaemonNotice(
            "fwdwatch stopped after \(evaluations) evaluations of \(netlinkEvents) netlink events "
                + "(\(resyncs) resyncs, \(routeQuestions) route questions asked).",
            id: JournalMessageID.stopping, priority: .info,
            fields: [
                ("FWDWATCH_EVALUATIONS", String(evaluations)),
                ("FWDWATCH_NETLINK_EVENTS", String(netlinkEvents)),
                ("FWDWATCH_RESYNCS", String(resyncs)),
                ("FWDWATCH_ROUTE_QUESTIONS", String(routeQuestions)),
            ])
    }

    // MARK: Reload

    static func reloaded(from path: String?, keysNeedingRestart: [String]) -> DaemonNotice {
        let pending =
            keysNeedingRestart.isEmpty
            ? "" : " \(keysNeedingRestart.joined(separator: ", ")) changed and take effect at the next restart."
        return DaemonNotice(
            "Configuration reloaded from \(path ?? builtInDefaults).\(pending)", id: JournalMessageID.reloaded,
            priority: .info)
    }

    static func reloadFailed(_ error: ConfigurationError) -> DaemonNotice {
        DaemonNotice(
            "Configuration not reloaded, the previous one stays in force: \(error)", id: JournalMessageID.reloadFailed,
            priority: .error,
            fields: [("CONFIG_FILE", error.path)] + (error.line.map { [("CONFIG_LINE", String($0))] } ?? []))
    }

    // MARK: Netlink

    static func netlinkResynced(reason: String, resyncs: Int) -> DaemonNotice {
        DaemonNotice(
            "Netlink events were lost (\(reason)); the whole state was re-read and compared.",
            id: JournalMessageID.resynced, priority: .notice, fields: [("FWDWATCH_RESYNCS", String(resyncs))])
    }

    static func netlinkWatcherFailed(_ reason: String) -> DaemonNotice {
        DaemonNotice(
            "The netlink watcher failed: \(reason); restarting it.", id: JournalMessageID.error, priority: .error)
    }

    static func netlinkCannotReopen(_ error: String) -> DaemonNotice {
        DaemonNotice("Cannot reopen netlink: \(error); retrying.", id: JournalMessageID.error, priority: .error)
    }

    // MARK: Firewall rules

    static func nftablesNotificationsUnavailable(_ reason: String) -> DaemonNotice {
        DaemonNotice(
            "nftables change notifications are unavailable (\(reason)); rule changes are seen at the next sweep.",
            id: JournalMessageID.error, priority: .notice)
    }

    /// The reason the nftables monitor gives when it ends by itself (not at shutdown).
    static let nftablesMonitorEnded = "the nftables monitor stopped"

    static func publishedPortChecksOff(_ reason: String) -> DaemonNotice {
        DaemonNotice("Published-port checks are off: \(reason)", id: JournalMessageID.error, priority: .warning)
    }

    // MARK: Evaluation

    static func routeLookupFailed(_ failure: String) -> DaemonNotice {
        DaemonNotice(
            "The kernel's route lookup failed (\(failure)); paths are judged by fwdwatch's own "
                + "model until it answers again.", id: JournalMessageID.error, priority: .warning)
    }

    static func modelDisagreement(_ text: String) -> DaemonNotice {
        DaemonNotice(
            "fwdwatch's model and the kernel's route lookup disagree; the kernel decided: \(text). "
                + "Please report this with `fwdwatch snapshot`.",
            id: JournalMessageID.modelDisagreement, priority: .notice, fields: [("FWDWATCH_DISAGREEMENT", text)])
    }

    // MARK: Drops

    /// `[drops] enabled = true` but the probe cannot load: said once, the daemon runs on without it.
    static func dropsUnavailable(_ reason: String) -> DaemonNotice {
        DaemonNotice(
            "Drop attribution is off: \(reason). fwdwatch runs on without it.", id: JournalMessageID.dropsUnavailable,
            priority: .warning)
    }

    /// The kernel dropped packets to a published port (at most once a minute per port, ingress and reason).
    static func dropsObserved(_ observation: DropObservation) -> DaemonNotice {
        let packets = observation.count == 1 ? "1 packet" : "\(observation.count) packets"
        let clients = observation.clients.isEmpty ? "" : " from \(observation.clients.joined(separator: ", "))"
        let targets = observation.targets.isEmpty ? "" : " (-> \(observation.targets.joined(separator: ", ")))"
        return DaemonNotice(
            "Dropped: \(packets)\(clients) to published port \(observation.port)\(targets) on \(observation.ingress), "
                + "\(DropReasonText.describe(observation.reason)).",
            id: JournalMessageID.dropsObserved, priority: .warning,
            fields: [
                ("FWDWATCH_PORT", observation.port), ("FWDWATCH_INGRESS", observation.ingress),
                ("FWDWATCH_DROPS", String(observation.count)), ("FWDWATCH_DROP_REASON", observation.reason),
                ("FWDWATCH_DROP_CLIENTS", observation.clients.joined(separator: ",")),
                ("FWDWATCH_TARGET", observation.targets.joined(separator: ",")),
            ])
    }

    /// At most this many new disagreements are logged after one evaluation (all are counted).
    static let disagreementsLoggedPerEvaluation = 10

    // MARK: Metrics textfile

    static func textfileFailed(_ reason: String) -> DaemonNotice {
        DaemonNotice(
            "Cannot write the metrics textfile (\(reason)); retrying after each evaluation.",
            id: JournalMessageID.error, priority: .warning)
    }

    static func textfileRecovered(path: String) -> DaemonNotice {
        DaemonNotice("The metrics textfile \(path) is written again.", id: JournalMessageID.error, priority: .notice)
    }

    // MARK: Repair

    static func repaired(_ repair: ForwardingRepair, previous: Int?, count: Int, policy: RepairPolicy) -> DaemonNotice {
        let was = previous.map(String.init) ?? "unknown"
        return DaemonNotice(
            "Repaired forwarding on \(repair.interface): wrote \(repair.sysctlKey)=1 (it was \(was)). "
                + "Repair \(count) of at most \(policy.maxPerHour) per hour for \(repair.interface).",
            id: JournalMessageID.repaired, priority: .notice,
            fields: [
                ("FWDWATCH_INTERFACE", repair.interface),
                ("FWDWATCH_SYSCTL", repair.sysctlKey),
                ("FWDWATCH_PREVIOUS_VALUE", was),
                ("FWDWATCH_REPAIRS", String(count)),
                ("FWDWATCH_MAX_PER_HOUR", String(policy.maxPerHour)),
            ])
    }

    static func repairLimitReached(_ limit: RepairLimitReached, policy: RepairPolicy) -> DaemonNotice {
        DaemonNotice(
            "Not repairing \(limit.interface) again: \(limit.sysctlKey) went back to 0 after \(limit.repairsThisHour) "
                + "repairs within the last hour (max-per-hour = \(policy.maxPerHour)). Something keeps writing 0: look "
                + "for what runs at those times (journalctl --since=-1h): a network manager "
                + "(systemd-networkd IPForward=, NetworkManager, ifupdown scripts), a sysctl.d file that systemd-sysctl "
                + "applies to new interfaces, a configuration management run, a container engine or a hardening script. "
                + "The alert stays raised; repairs of \(limit.interface) resume in "
                + "\(AlertFields.humanDuration(limit.secondsUntilNextRepair)).",
            id: JournalMessageID.repairLimitReached, priority: .warning,
            fields: [
                ("FWDWATCH_INTERFACE", limit.interface),
                ("FWDWATCH_SYSCTL", limit.sysctlKey),
                ("FWDWATCH_REPAIRS", String(limit.repairsThisHour)),
                ("FWDWATCH_MAX_PER_HOUR", String(policy.maxPerHour)),
            ])
    }

    /// Why a repair write failed, grouped into the kinds that are each reported once per run; nil for a
    /// failure that needs no notice (the interface vanished between the evaluation and the write).
    static func repairFailureKind(_ error: ProcWriteError) -> (kind: String, advice: String)? {
        switch error {
        case .readOnlyFileSystem:
            return (
                "read-only",
                "/proc/sys is read-only for fwdwatch: the unit's ProtectKernelTunables=yes mounts it so. To allow "
                    + "repairs, add a drop-in (systemctl edit fwdwatch) with \"[Service]\" and "
                    + "\"ReadWritePaths=/proc/sys/net/ipv4/conf\", then systemctl restart fwdwatch."
            )
        case .permissionDenied:
            return (
                "permission",
                "Writing net.ipv4.conf.*.forwarding needs CAP_NET_ADMIN, which fwdwatch does not have. The shipped "
                    + "unit grants it (AmbientCapabilities=CAP_NET_ADMIN); otherwise set [repair] forwarding = false."
            )
        case .interfaceGone:
            return nil
        case .invalidInterfaceName(let name):
            return ("name \(name)", "The interface name cannot be used in a path; it is not repaired.")
        case .failed(_, let code):
            return ("errno \(code)", "The repair is retried at the next evaluation; this error is logged once.")
        }
    }

    static func repairFailed(_ error: ProcWriteError, repair: ForwardingRepair, advice: String) -> DaemonNotice {
        DaemonNotice(
            "Cannot repair forwarding on \(repair.interface): \(error). \(advice) The alert stays raised "
                + "until forwarding is 1.",
            id: JournalMessageID.repairFailed, priority: .error,
            fields: [
                ("FWDWATCH_INTERFACE", repair.interface),
                ("FWDWATCH_SYSCTL", repair.sysctlKey),
                ("FWDWATCH_ERROR", error.description),
            ])
    }

    // MARK: Log lines (the daemon's own logger, not the alert sink)

    static func procReadFailed(_ error: String) -> DaemonLogLine {
        DaemonLogLine(level: .warning, message: "reading /proc failed, keeping the last values", metadata: ["error": error])
    }

    static let builtInDefaults = "built-in defaults"
}

/// A line for the daemon's own logger.
struct DaemonLogLine: Sendable, Equatable {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]
}
