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
    struct Outcome: Sendable {
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
                    outcome.notices.append(
                        DaemonNotices.repaired(
                            repair, previous: previous ?? repair.observedValue, count: count, policy: policy))
                case .alreadyEnabled:
                    // An evaluation that ran before the write's netconf event: nothing to do, nothing to count.
                    continue
                }
            } catch {
                if let notice = failure(error, repair: repair) { outcome.notices.append(notice) }
            }
        }
        for limit in plan.limitsReached {
            outcome.notices.append(DaemonNotices.repairLimitReached(limit, policy: policy))
        }
        return outcome
    }

    /// The notice for a failed write, or nil when this kind was already reported (or needs none).
    private mutating func failure(_ error: ProcWriteError, repair: ForwardingRepair) -> DaemonNotice? {
        guard let (kind, advice) = DaemonNotices.repairFailureKind(error), reportedFailures.insert(kind).inserted
        else { return nil }
        return DaemonNotices.repairFailed(error, repair: repair, advice: advice)
    }
}

/// What `[repair]` is asked to repair after an evaluation.
struct RepairRequest: Sendable {
    var findings: [Finding]
    var allForwarding: Int?
    var policy: RepairPolicy
    var settings: Settings
    /// Seconds since the daemon started.
    var now: Double
}

extension ForwardingRepairer {
    mutating func repair(_ request: RepairRequest) -> Outcome {
        repair(
            findings: request.findings, allForwarding: request.allForwarding, policy: request.policy,
            settings: request.settings, now: request.now)
    }
}
