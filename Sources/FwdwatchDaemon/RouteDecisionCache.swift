import FwdwatchCore
import FwdwatchNetlink

/// The daemon's memory of the kernel's route answers, by question, so an evaluation asks only what it
/// has not asked since the last change.
///
/// The answers depend on links, addresses, routes and the netconf sysctls (forwarding, rp_filter):
/// the event loop drops the cache when any of those changes (`dropIfRoutingChanged`), when the firewall
/// rules change, and at every sweep, because ip rules and sysctls without events (`route_localnet`,
/// `accept_local`) change answers silently.
struct RouteDecisionCache {
    private var answers: [RouteQuestion: RouteAnswer] = [:]
    /// Questions put to the kernel since the daemon started (cache misses).
    private(set) var questionsAsked = 0
    /// The last lookup failure, until it is reported (`takeNewFailure`) or a lookup works again.
    private var failure: String?
    private var failureReported = false

    mutating func drop() { answers.removeAll(keepingCapacity: true) }

    /// Drops the answers when anything a route lookup reads differs between the two states (all but
    /// the neighbour table).
    mutating func dropIfRoutingChanged(from old: NetlinkState?, to new: NetlinkState) {
        guard let old, old.links == new.links, old.addresses == new.addresses, old.routes == new.routes else {
            drop()
            return
        }
        guard old.ipv4Netconf != new.ipv4Netconf else { return }
        // A sysctl flip on one interface changes only the answers for packets arriving there; one on
        // `all` or `default` (or an interface appearing or leaving) may change any.
        var changed: Set<String> = []
        for name in Set(old.ipv4Netconf.keys).union(new.ipv4Netconf.keys) where old.ipv4Netconf[name] != new.ipv4Netconf[name] {
            changed.insert(name)
        }
        if changed.contains("all") || changed.contains("default") {
            drop()
        } else {
            answers = answers.filter { !changed.contains($0.key.inputInterface) }
        }
    }

    /// The kernel's decisions for the questions the path walk asks about `snapshot`: cached answers,
    /// and the rest asked on a dedicated thread (the event loop's task waits without holding a pool
    /// thread). Nil when there is nothing to ask, or when the lookup failed (the walk then uses its
    /// own model; the failure is kept for `takeNewFailure`).
    mutating func decisions(
        for snapshot: Snapshot, settings: Settings, memo: inout EvaluationMemo, rulesVersion: Int?
    ) async -> [RouteDecision]? {
        let questions = HostView(snapshot, settings: settings, memo: &memo, rulesVersion: rulesVersion, walkPaths: false)
            .routeQuestions()
        guard !questions.isEmpty else { return nil }
        let unanswered = questions.filter { answers[$0] == nil }
        if !unanswered.isEmpty {
            do {
                let decisions = try await KernelRouteLookup.askOffPool(unanswered)
                questionsAsked += unanswered.count
                for decision in decisions { answers[decision.question] = decision.answer }
                failure = nil
                failureReported = false
            } catch {
                failure = "\(error)"
                return nil
            }
        }
        return questions.compactMap { question in answers[question].map { RouteDecision(question: question, answer: $0) } }
    }

    /// The lookup failure, once per run of failures.
    mutating func takeNewFailure() -> String? {
        guard let failure, !failureReported else { return nil }
        failureReported = true
        return failure
    }
}
