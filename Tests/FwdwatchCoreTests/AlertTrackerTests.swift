import Foundation
import Testing

@testable import FwdwatchCore

private func finding(
    _ rule: RuleID = "interface-forwarding-disabled", _ subject: String = "eth0", _ severity: Severity = .critical,
    message: String = "eth0 has forwarding disabled", evidence: [Evidence] = [Evidence("value", "0")]
) -> Finding {
    Finding(
        rule: rule, subject: subject, severity: severity, message: message, fix: "sysctl -w x=1",
        interface: subject, evidence: evidence)
}

private func finding(severity: Severity) -> Finding {
    finding("interface-forwarding-disabled", "eth0", severity)
}

@Suite("AlertTracker")
struct AlertTrackerTests {
    @Test("a new key is raised once, at the time given")
    func appear() {
        var tracker = AlertTracker()
        let transitions = tracker.update([finding()], now: 10)
        #expect(transitions == [AlertTransition(state: .raised, finding: finding(), raisedAt: 10, at: 10)])
        #expect(tracker.active == [finding()])
    }

    @Test("a persisting key logs nothing, even when message or evidence text changes")
    func persist() {
        var tracker = AlertTracker()
        _ = tracker.update([finding()], now: 0)
        #expect(tracker.update([finding()], now: 1).isEmpty)
        let reworded = finding(message: "new words", evidence: [Evidence("in_addr_errors", "12")])
        #expect(tracker.update([reworded], now: 2).isEmpty)
        // The stored finding is refreshed silently: the later resolution carries the latest text.
        #expect(tracker.active == [reworded])
        let resolved = tracker.update([], now: 3)
        #expect(resolved.count == 1)
        #expect(resolved.first?.finding == reworded)
    }

    @Test("a severity change is reported with the previous severity, once")
    func changeSeverity() {
        var tracker = AlertTracker()
        _ = tracker.update([finding(severity: .warning)], now: 0)
        let changed = tracker.update([finding(severity: .critical)], now: 5)
        #expect(
            changed == [
                AlertTransition(
                    state: .changed, finding: finding(severity: .critical), previousSeverity: .warning, raisedAt: 0,
                    at: 5)
            ])
        #expect(tracker.update([finding(severity: .critical)], now: 6).isEmpty)
        let back = tracker.update([finding(severity: .warning)], now: 7)
        #expect(back.map(\.state) == [.changed])
        #expect(back.first?.previousSeverity == .critical)
        #expect(back.first?.finding.severity == .warning)
    }

    @Test("a cleared key is resolved at once without hold, with how long it lasted")
    func clearWithDuration() {
        var tracker = AlertTracker()
        _ = tracker.update([finding()], now: 100)
        _ = tracker.update([finding()], now: 120)
        let transitions = tracker.update([], now: 142.5)
        #expect(
            transitions == [
                AlertTransition(
                    state: .resolved, finding: finding(), raisedAt: 100, at: 142.5, duration: 42.5, flaps: 0)
            ])
        #expect(tracker.active.isEmpty)
        #expect(tracker.update([], now: 150).isEmpty)
        // It can be raised again afterwards, as a new problem.
        let again = tracker.update([finding()], now: 160)
        #expect(again.map(\.state) == [.raised])
        #expect(again.first?.raisedAt == 160)
    }

    @Test("with a hold, a resolution is reported only after the key stayed absent that long")
    func delayedResolution() {
        var tracker = AlertTracker(flapHoldSeconds: 30)
        _ = tracker.update([finding()], now: 0)
        #expect(tracker.update([], now: 10).isEmpty)
        #expect(tracker.active.isEmpty)
        #expect(tracker.clearing == [finding()])
        #expect(tracker.nextDeadline == 40)
        #expect(tracker.update([], now: 39.9).isEmpty)
        let resolved = tracker.update([], now: 40)
        // The duration ends when the key was first seen absent, not when the hold expired.
        #expect(
            resolved == [
                AlertTransition(state: .resolved, finding: finding(), raisedAt: 0, at: 10, duration: 10, flaps: 0)
            ])
        #expect(tracker.clearing.isEmpty)
        #expect(tracker.nextDeadline == nil)
    }

    @Test("flapping within the hold is not logged, and the resolution carries the flap count")
    func flapping() {
        var tracker = AlertTracker(flapHoldSeconds: 30)
        #expect(tracker.update([finding()], now: 0).map(\.state) == [.raised])
        var logged: [AlertTransition] = []
        // Three clear/reappear cycles, each gap shorter than the hold.
        for cycle in 0..<3 {
            let base = Double(cycle) * 20
            logged += tracker.update([], now: base + 5)
            logged += tracker.update([finding()], now: base + 15)
        }
        #expect(logged.isEmpty)
        #expect(tracker.active == [finding()])
        logged += tracker.update([], now: 100)
        #expect(logged.isEmpty)
        let resolved = tracker.update([], now: 130)
        #expect(resolved.count == 1)
        #expect(resolved.first?.state == .resolved)
        #expect(resolved.first?.flaps == 3)
        #expect(resolved.first?.raisedAt == 0)
        #expect(resolved.first?.duration == 100)
    }

    @Test("a flap that comes back at another severity is reported as changed, carrying the flaps so far")
    func flapWithSeverityChange() {
        var tracker = AlertTracker(flapHoldSeconds: 30)
        _ = tracker.update([finding(severity: .warning)], now: 0)
        _ = tracker.update([], now: 1)
        let changed = tracker.update([finding(severity: .critical)], now: 2)
        #expect(changed.map(\.state) == [.changed])
        #expect(changed.first?.previousSeverity == .warning)
        #expect(changed.first?.flaps == 1)
        // The count starts over after it was reported.
        _ = tracker.update([], now: 3)
        let resolved = tracker.update([], now: 33)
        #expect(resolved.map(\.state) == [.resolved])
        #expect(resolved.first?.flaps == 0)
        #expect(resolved.first?.duration == 3)
    }

    @Test("a short blip is raised at once and resolved after the hold")
    func blip() {
        var tracker = AlertTracker(flapHoldSeconds: 5)
        #expect(tracker.update([finding()], now: 0).map(\.state) == [.raised])
        #expect(tracker.update([], now: 0.5).isEmpty)
        let resolved = tracker.update([], now: 6)
        #expect(resolved.map(\.state) == [.resolved])
        #expect(resolved.first?.duration == 0.5)
    }

    @Test("with no hold every flip is reported")
    func noHoldReportsEveryFlip() {
        var tracker = AlertTracker()
        var states: [AlertTransition.State] = []
        for step in 0..<6 {
            states += tracker.update(step.isMultiple(of: 2) ? [finding()] : [], now: Double(step)).map(\.state)
        }
        #expect(states == [.raised, .resolved, .raised, .resolved, .raised, .resolved])
    }

    @Test("many keys are tracked independently")
    func manyKeys() {
        var tracker = AlertTracker()
        let interfaces = (0..<50).map { "veth\($0)" }
        let all = interfaces.map { finding("interface-forwarding-disabled", $0) }
        #expect(tracker.update(all, now: 0).count == 50)
        let even = all.enumerated().filter { $0.offset.isMultiple(of: 2) }.map(\.element)
        let transitions = tracker.update(even, now: 1)
        #expect(transitions.count == 25)
        #expect(transitions.allSatisfy { $0.state == .resolved })
        #expect(Set(transitions.map(\.finding.subject)) == Set(stride(from: 1, to: 50, by: 2).map { "veth\($0)" }))
        #expect(tracker.active.count == 25)
        #expect(tracker.update(even, now: 2).isEmpty)
    }

    @Test("transitions come raised/changed worst first, then resolved")
    func ordering() {
        var tracker = AlertTracker()
        let gone1 = finding("bridge-down", "br1", .warning)
        let gone2 = finding("bridge-down", "br0", .critical)
        let toChange = finding("default-route-missing", "default", .info)
        _ = tracker.update([gone1, gone2, toChange], now: 0)
        let newInfo = finding("conntrack-table-near-full", "conntrack", .info)
        let newCritical = finding("interface-forwarding-disabled", "eth0", .critical)
        let newWarning = finding("bridge-no-carrier", "docker0", .warning)
        let changed = finding("default-route-missing", "default", .warning)
        let transitions = tracker.update([newInfo, changed, newWarning, newCritical], now: 1)
        #expect(transitions.map(\.state) == [.raised, .raised, .changed, .raised, .resolved, .resolved])
        #expect(
            transitions.map(\.finding.subject) == ["eth0", "docker0", "default", "conntrack", "br0", "br1"])
        #expect(tracker.active.map(\.subject) == ["eth0", "docker0", "default", "conntrack"])
    }

    @Test("duplicate keys in one evaluation count once, at the worst severity")
    func duplicateKeys() {
        var tracker = AlertTracker()
        let transitions = tracker.update([finding(severity: .warning), finding(severity: .critical)], now: 0)
        #expect(transitions.count == 1)
        #expect(transitions.first?.finding.severity == .critical)
        #expect(tracker.active.count == 1)
    }

    @Test("a transition survives a JSON round trip")
    func codable() throws {
        let transition = AlertTransition(
            state: .changed, finding: finding(), previousSeverity: .warning, raisedAt: 1, at: 2, flaps: 2)
        let data = try JSONEncoder().encode(transition)
        #expect(try JSONDecoder().decode(AlertTransition.self, from: data) == transition)
    }

    @Test("a rule with a settle time: a passing state logs nothing, a lasting one is raised when it settles")
    func settle() {
        let port = finding("bridge-port-not-forwarding", "docker0/veth1", .critical)
        var tracker = AlertTracker(settleSeconds: ["bridge-port-not-forwarding": 5])
        // A container start: the new port has no carrier for a moment, then is fine.
        #expect(tracker.update([port], now: 0).isEmpty)
        #expect(tracker.nextDeadline == 5)
        #expect(tracker.update([], now: 0.2).isEmpty)
        #expect(tracker.nextDeadline == nil)
        // A port that stays down is raised once it has lasted the settle time, and resolved as usual.
        #expect(tracker.update([port], now: 10).isEmpty)
        #expect(tracker.update([port], now: 14.9).isEmpty)
        let raised = tracker.update([port], now: 15)
        #expect(raised.map(\.state) == [.raised])
        #expect(tracker.update([port], now: 16).isEmpty)
        #expect(tracker.update([], now: 20).map(\.state) == [.resolved])
        // Other rules are not delayed.
        #expect(tracker.update([finding()], now: 30).map(\.state) == [.raised])
    }

    @Test("the registry's settle times are the ones the transient-state rules ask for")
    func settleTimesFromRules() {
        let times = AlertTracker.settleSeconds(of: RuleRegistry.all)
        #expect(
            Set(times.keys) == [
                "bridge-port-not-forwarding", "bridge-no-carrier", "veth-detached", "dnat-target-not-answering",
            ])
        #expect(times.values.allSatisfy { $0 == 5 })
    }
}
