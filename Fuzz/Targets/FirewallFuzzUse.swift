import FwdwatchCore

/// What the rest of fwdwatch does with a parsed ruleset, so that fuzzing the parsers also exercises it.
enum FirewallFuzzUse {
    static func use(_ state: FirewallState) {
        _ = state.backends
        _ = state.natRules
        _ = state.forwardPolicy
        for hook in [NetfilterHook.prerouting, .input, .forward, .output, .postrouting] {
            _ = state.baseChains(hook: hook)
        }
        let snapshot = Snapshot(firewall: state)
        _ = Evaluator().evaluate(snapshot)
    }
}
