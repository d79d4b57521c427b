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
        let unchanged = old.map {
            $0.links == new.links && $0.addresses == new.addresses && $0.routes == new.routes
                && $0.ipv4Netconf == new.ipv4Netconf
        }
        if unchanged != true { drop() }
    }

    /// The kernel's decisions for the questions the path walk asks about `snapshot`: cached answers,
    /// and the rest asked on a dedicated thread (the event loop's task waits without holding a pool
    /// thread). Nil when there is nothing to ask, or when the lookup failed (the walk then uses its
    /// own model; the failure is kept for `takeNewFailure`).
    mutating func decisions(for snapshot: Snapshot, settings: Settings) async -> [RouteDecision]? {
        let questions = HostView(snapshot, settings: settings).routeQuestions()
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
