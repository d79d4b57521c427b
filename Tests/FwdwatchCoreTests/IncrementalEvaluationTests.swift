import FwdwatchFirewall
import FwdwatchFixtures
import Testing

@testable import FwdwatchCore

/// The daemon evaluates with a memo (`EvaluationMemo`) that reuses the last walks, the kernel's answers
/// indexed and the findings of rules that read only the rules and the topology. Whatever it reuses, the
/// result must be exactly what an evaluation from nothing gives.
@Suite("Incremental evaluation")
struct IncrementalEvaluationTests {
    /// A Docker host with `ports` published ports, and the kernel's answers as a healthy one gives them.
    static func host(ports: Int, answers: Bool) -> (snapshot: Snapshot, uplink: String) {
        let generated = FwdwatchFixtures.DockerRules.host(publishedPorts: ports, containers: max(1, ports / 2))
        var snapshot = generated.snapshot(
            firewall: IptablesSaveParser.parse(FwdwatchFixtures.DockerRules.iptablesSave(publishedPorts: ports, containers: max(1, ports / 2)), backend: .iptablesNFT))
        let uplink = generated.uplinks[0].name
        let bridge = generated.bridges[0].name
        if answers {
            snapshot.routeDecisions = HostView(snapshot).routeQuestions().map { question in
                let out = question.isOutputLookup || question.inputInterface == uplink ? bridge : uplink
                return RouteDecision(question: question, answer: .route(type: "unicast", outputInterface: out, gateway: nil))
            }
        }
        return (snapshot, uplink)
    }

    /// `snapshot` after `forwarding` of `interface` went to `value`, with the kernel's answers for it.
    static func flip(_ snapshot: Snapshot, _ interface: String, to value: Int) -> Snapshot {
        var flipped = snapshot
        flipped.ipv4Conf[interface, default: InterfaceConf()].forwarding = value
        if value == 0 {
            flipped.routeDecisions = snapshot.routeDecisions?.map { decision in
                guard decision.question.inputInterface == interface else { return decision }
                return RouteDecision(question: decision.question, answer: .error(errno: "EHOSTUNREACH", code: 113))
            }
        }
        return flipped
    }

    @Test("flips back and forth with the memo give what evaluations from nothing give", arguments: [false, true])
    func memoMatchesFresh(answers: Bool) {
        let (healthy, uplink) = Self.host(ports: 40, answers: answers)
        let broken = Self.flip(healthy, uplink, to: 0)
        let unrelated = Self.flip(healthy, "p-docker0", to: 0)
        let evaluator = Evaluator()
        var memo = EvaluationMemo()
        for (step, snapshot) in [healthy, broken, healthy, broken, unrelated, broken, healthy].enumerated() {
            let remembered = evaluator.evaluate(snapshot, memo: &memo, rulesVersion: 1)
            let fresh = evaluator.evaluate(snapshot)
            #expect(remembered == fresh, "step \(step)")
        }
        #expect(evaluator.evaluate(healthy).findings.filter { $0.severity >= .warning } == [])
    }

    @Test("forwarding off on the uplink of 40 ports: one finding for the ports, not 40")
    func manyPortsOneFinding() throws {
        let (healthy, uplink) = Self.host(ports: 40, answers: true)
        let findings = Evaluator().evaluate(Self.flip(healthy, uplink, to: 0)).findings
        let unreachable = findings.filter { $0.rule == "published-port-unreachable" }
        #expect(unreachable.count == 1)
        let finding = try #require(unreachable.first)
        #expect(finding.subject == "\(uplink) ingress-forwarding")
        #expect(finding.evidence.contains(Evidence("ports_count", "40")))
        #expect(finding.message.hasPrefix("40 published ports (10001/tcp -> "))
        #expect(finding.fix.hasPrefix("sysctl -w net.ipv4.conf.\(uplink).forwarding=1"))
        #expect(findings.contains { $0.rule == "interface-forwarding-disabled" && $0.subject == uplink })
    }

    @Test("a few ports cut off keep a finding each")
    func fewPortsOneEach() {
        let (healthy, uplink) = Self.host(ports: PublishedPortUnreachable.portsPerFinding, answers: true)
        let unreachable = Evaluator().evaluate(Self.flip(healthy, uplink, to: 0)).findings.filter {
            $0.rule == "published-port-unreachable"
        }
        #expect(unreachable.count == PublishedPortUnreachable.portsPerFinding)
        #expect(unreachable.allSatisfy { $0.subject.hasSuffix("/tcp") })
    }

    @Test("a kernel answer that changes without a sysctl is seen through the memo")
    func answerChangeSeen() {
        let (healthy, uplink) = Self.host(ports: 30, answers: true)
        var refused = healthy
        refused.routeDecisions = healthy.routeDecisions?.map { decision in
            guard decision.question.inputInterface == uplink else { return decision }
            return RouteDecision(question: decision.question, answer: .error(errno: "EACCES", code: 13))
        }
        let evaluator = Evaluator()
        var memo = EvaluationMemo()
        _ = evaluator.evaluate(healthy, memo: &memo, rulesVersion: 1)
        let remembered = evaluator.evaluate(refused, memo: &memo, rulesVersion: 1)
        #expect(remembered == evaluator.evaluate(refused))
        #expect(remembered.findings.contains { $0.rule == "published-port-unreachable" })
    }

    @Test("the kernel's answers in another order, some changed, are indexed afresh, not patched")
    func reorderedAnswers() {
        let (healthy, uplink) = Self.host(ports: 30, answers: true)
        var reordered = Self.flip(healthy, uplink, to: 0)
        reordered.ipv4Conf = healthy.ipv4Conf  // the answers alone changed, and came in reverse order
        reordered.routeDecisions = reordered.routeDecisions.map { Array($0.reversed()) }
        let evaluator = Evaluator()
        var memo = EvaluationMemo()
        _ = evaluator.evaluate(healthy, memo: &memo, rulesVersion: 1)
        let remembered = evaluator.evaluate(reordered, memo: &memo, rulesVersion: 1)
        #expect(remembered == evaluator.evaluate(reordered))
        #expect(remembered.findings.contains { $0.rule == "published-port-unreachable" })
    }
}
