import FwdwatchCore

extension Snapshot {
    /// This snapshot after `net.ipv4.conf.<interface>.forwarding` went to 0, as the daemon sees it: the
    /// sysctl, and the kernel's answers for packets arriving on `interface` (its route cache asks those
    /// again), which the input lookup now refuses with EHOSTUNREACH unless they are for the host itself.
    func forwardingSwitchedOff(on interface: String) -> Snapshot {
        var flipped = self
        flipped.ipv4Conf[interface, default: InterfaceConf()].forwarding = 0
        flipped.routeDecisions = routeDecisions?.map { decision in
            guard decision.question.inputInterface == interface,
                case .route(let type, _, _) = decision.answer, type != "local"
            else { return decision }
            return RouteDecision(question: decision.question, answer: .error(errno: "EHOSTUNREACH", code: 113))
        }
        return flipped
    }
}
