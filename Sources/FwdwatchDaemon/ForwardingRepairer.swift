import FwdwatchCore
import FwdwatchJournal
import FwdwatchProc

/// Opt-in repair (`[repair] forwarding = true`): after an evaluation, writes
/// `net.ipv4.conf.<iface>.forwarding=1` where `RepairPlanner` says so, and turns what happened into
/// journal notices. The write's own netconf event then re-evaluates, and the finding clears.
///
/// Failures never stop the daemon. Permission problems are reported once per run each (EROFS: the unit's
/// ProtectKernelTunables=yes; EACCES/EPERM: no CAP_NET_ADMIN); a failed write is not counted against the
/// hour's repairs, so a later evaluation tries again (silently).
struct ForwardingRepairer {
    var planner = RepairPlanner()
    let writer: ProcWriter
    /// Failure kinds already reported.
    private var reportedFailures: Set<String> = []

    init(writer: ProcWriter) {
        self.writer = writer
    }

    /// What one turn's repairs did.
    struct Outcome {
        /// The notices to log, in order.
        var notices: [DaemonNotice] = []
        /// Whether a value was written. The write's own netconf event can be coalesced away by the watcher
        /// (1, then 0 again from whatever keeps writing 0, within one window publishes no change), so the
        /// daemon looks again once the window has passed.
        var wrote = false
    }

    /// Plans and performs the repairs the findings call for.
    mutating func repair(
        findings: [Finding], allForwarding: Int?, policy: RepairPolicy, settings: Settings, now: Double
    ) -> Outcome {
        let plan = planner.plan(
            findings: findings, allForwarding: allForwarding, policy: policy, settings: settings, now: now)
        var outcome = Outcome()
        for repair in plan.repairs {
            do throws(ProcWriteError) {
                switch try writer.enableForwarding(on: repair.interface) {
                case .enabled(let previous):
                    let count = planner.recordRepair(of: repair.interface, at: now)
                    outcome.wrote = true
                    outcome.notices.append(Self.repaired(repair, previous: previous ?? repair.observedValue, count: count, policy: policy))
                case .alreadyEnabled:
                    // An evaluation that ran before the write's netconf event: nothing to do, nothing to count.
                    continue
                }
            } catch {
                if let notice = failure(error, repair: repair) { outcome.notices.append(notice) }
            }
        }
        for limit in plan.limitsReached {
            outcome.notices.append(Self.limitReached(limit, policy: policy))
        }
        return outcome
    }

    // MARK: Notices

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

    static func limitReached(_ limit: RepairLimitReached, policy: RepairPolicy) -> DaemonNotice {
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

    /// The notice for a failed write, or nil when this kind was already reported.
    private mutating func failure(_ error: ProcWriteError, repair: ForwardingRepair) -> DaemonNotice? {
        let kind: String
        let advice: String
        switch error {
        case .readOnlyFileSystem:
            kind = "read-only"
            advice =
                "/proc/sys is read-only for fwdwatch: the unit's ProtectKernelTunables=yes mounts it so. To allow "
                + "repairs, add a drop-in (systemctl edit fwdwatch) with \"[Service]\" and "
                + "\"ReadWritePaths=/proc/sys/net/ipv4/conf\", then systemctl restart fwdwatch."
        case .permissionDenied:
            kind = "permission"
            advice =
                "Writing net.ipv4.conf.*.forwarding needs CAP_NET_ADMIN, which fwdwatch does not have. The shipped "
                + "unit grants it (AmbientCapabilities=CAP_NET_ADMIN); otherwise set [repair] forwarding = false."
        case .interfaceGone:
            return nil  // it vanished between the evaluation and the write; its finding goes with it
        case .invalidInterfaceName(let name):
            kind = "name \(name)"
            advice = "The interface name cannot be used in a path; it is not repaired."
        case .failed(_, let code):
            kind = "errno \(code)"
            advice = "The repair is retried at the next evaluation; this error is logged once."
        }
        guard reportedFailures.insert(kind).inserted else { return nil }
        return DaemonNotice(
            "Cannot repair forwarding on \(repair.interface): \(error). \(advice) The alert stays raised "
                + "until forwarding is 1.",
            id: JournalMessageID.repairFailed, priority: .error,
            fields: [
                ("FWDWATCH_INTERFACE", repair.interface),
                ("FWDWATCH_SYSCTL", repair.sysctlKey),
                ("FWDWATCH_ERROR", error.description),
            ])
    }
}
