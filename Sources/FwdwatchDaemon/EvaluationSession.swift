import FwdwatchCore
import FwdwatchFirewall
import FwdwatchNetlink
import FwdwatchProc

/// The model one evaluation reads (from the state machine) and what of the cached route answers to drop.
struct EvaluationRequest: Sendable {
    var netlink: NetlinkState
    var proc: ProcState
    var dropSample: DropSample?
    var firewall: FirewallReading?
    var persistentSettings: [PersistentSetting]?
    var settings: Settings
    var rulesVersion: Int
    var routeAnswers: RouteAnswersValidity
    /// The drop probe's last minute (the snapshot's `drops`); nil when drop attribution is off or unavailable.
    var drops: DropReading? = nil
    /// Drops no evaluation has seen yet: attributed to published ports for the notices and the metrics.
    var newDrops: DropReading? = nil
}

/// Which of the kernel's cached route answers still hold, from least to most forgotten.
enum RouteAnswersValidity: Int, Comparable, Sendable {
    case keep
    /// The netlink state changed: drop the answers it may have changed (`RouteDecisionCache.dropIfRoutingChanged`).
    case checkNetlink
    /// The rules changed, or a sweep ran (ip rules and silent sysctls change answers): drop every answer.
    case dropAll

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What one evaluation gave the state machine.
struct EvaluationOutcome: Sendable {
    var evaluation: Evaluation
    /// `net.ipv4.conf.all.forwarding` as the evaluation saw it: repairs are made only while it is 1.
    var allForwarding: Int?
    var duration: Duration
    /// The kernel's route lookup failed, reported once per run of failures.
    var newRouteLookupFailure: String?
    /// Questions put to the kernel since the daemon started.
    var routeQuestionsAsked: Int
    /// The request's `newDrops` that hit published ports, by port, ingress and reason.
    var newDropObservations: [DropObservation] = []
}

/// Evaluates the live model, keeping what one evaluation leaves for the next: the `EvaluationMemo` (rule
/// index, ports, forward verdicts, paths) and the kernel's route answers. The only asynchronous step is the
/// route lookup for questions not cached, which runs on a dedicated thread (the loop's task waits without
/// holding a pool thread).
struct EvaluationSession {
    private var evaluator = Evaluator()
    private var memo = EvaluationMemo()
    private var routeAnswers = RouteDecisionCache()
    private var lastNetlink: NetlinkState?

    mutating func evaluate(_ request: EvaluationRequest) async -> EvaluationOutcome {
        let started = ContinuousClock.now
        switch request.routeAnswers {
        case .keep: break
        case .checkNetlink: routeAnswers.dropIfRoutingChanged(from: lastNetlink, to: request.netlink)
        case .dropAll: routeAnswers.drop()
        }
        lastNetlink = request.netlink
        var snapshot = SnapshotAssembler.assemble(
            netlink: request.netlink, proc: request.proc, dropSample: request.dropSample, firewall: request.firewall)
        snapshot.persistentSettings = request.persistentSettings
        snapshot.drops = request.drops
        evaluator.settings = request.settings
        snapshot.routeDecisions = await routeAnswers.decisions(
            for: snapshot, settings: request.settings, memo: &memo, rulesVersion: request.rulesVersion)
        let evaluation = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: request.rulesVersion)
        var observations: [DropObservation] = []
        if let fresh = request.newDrops, !fresh.counts.isEmpty {
            // The ports only (the memo has them): the paths were walked by the evaluation.
            var sweep = snapshot
            sweep.drops = fresh
            let view = HostView(
                sweep, settings: request.settings, memo: &memo, rulesVersion: request.rulesVersion, walkPaths: false)
            observations = DropAttribution.observations(view)
        }
        return EvaluationOutcome(
            evaluation: evaluation, allForwarding: snapshot.ipv4Conf["all"]?.forwarding,
            duration: .now - started, newRouteLookupFailure: routeAnswers.takeNewFailure(),
            routeQuestionsAsked: routeAnswers.questionsAsked, newDropObservations: observations)
    }
}
