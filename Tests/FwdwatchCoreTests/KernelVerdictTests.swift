import Testing

@testable import FwdwatchCore

/// The kernel's route answers (`Snapshot.routeDecisions`) decide the routing hops; the model explains.
/// Built on the healthy Docker host with its recorded rules; the answers are what the kernel gave in the
/// namespace tests (KernelRouteLookupTests).
@Suite("Kernel route answers")
struct KernelVerdictTests {
    /// The host with every question answered by `answer`.
    static func host(_ answer: (RouteQuestion) -> RouteAnswer, editing edit: (inout DockerHost) -> Void = { _ in }) -> DockerHost {
        var host = DockerHost.withRules()
        edit(&host)
        let questions = host.view().routeQuestions()
        host.snapshot.routeDecisions = questions.map { RouteDecision(question: $0, answer: answer($0)) }
        return host
    }

    /// What a healthy kernel says: the target via docker0, the replies and the containers' traffic via eth0.
    static func healthy(_ question: RouteQuestion) -> RouteAnswer {
        if question.isOutputLookup || question.destination.hasPrefix("172.17.") {
            return .route(type: "unicast", outputInterface: "docker0", gateway: nil)
        }
        return .route(type: "unicast", outputInterface: "eth0", gateway: nil)
    }

    static func forwardHop(_ host: DockerHost) -> [PathHop] {
        host.view().portPaths.first?.first?.hops ?? []
    }

    @Test("the path walk asks forward, reply and output questions for the port")
    func questionsCoverEveryDirection() {
        let questions = DockerHost.withRules().view().routeQuestions()
        #expect(questions.contains { $0.inputInterface == "eth0" && $0.destination == "172.17.0.2" })
        #expect(questions.contains { $0.inputInterface == "docker0" && $0.source == "172.17.0.2" })
        #expect(questions.contains { $0.isOutputLookup && $0.destination == "172.17.0.2" })
    }

    @Test("healthy answers: no finding, no disagreement")
    func healthyKernel() {
        let host = Self.host(Self.healthy)
        let evaluation = host.evaluate()
        #expect(evaluation.findings.filter { $0.severity >= .warning } == [])
        #expect(evaluation.modelDisagreements == [])
    }

    @Test("EHOSTUNREACH while the host's own lookup of the target works: forwarding, named at ingress-forwarding, a disagreement")
    func refusalThatIsForwarding() throws {
        let host = Self.host { question in
            question.inputInterface == "eth0" ? .error(errno: "EHOSTUNREACH", code: 113) : Self.healthy(question)
        }
        let finding = try #require(host.evaluate().findings.first { $0.rule == "published-port-unreachable" })
        #expect(finding.evidence.first { $0.name == "hop" }?.value == "ingress-forwarding")
        #expect(finding.message.contains("the kernel refuses"))
        #expect(!host.evaluate().modelDisagreements.isEmpty)
    }

    @Test("EHOSTUNREACH while the host's own lookup fails too: a route refuses it, named at route")
    func refusalThatIsARoute() throws {
        let host = Self.host { question in
            question.inputInterface == "eth0" || question.isOutputLookup
                ? .error(errno: "EHOSTUNREACH", code: 113) : Self.healthy(question)
        }
        let finding = try #require(host.evaluate().findings.first { $0.rule == "published-port-unreachable" })
        #expect(finding.evidence.first { $0.name == "hop" }?.value == "route")
        #expect(finding.fix.contains("ip rule show"))
    }

    @Test("EINVAL: the reverse-path filter, named at rp-filter")
    func reversePathRefusal() throws {
        let host = Self.host { question in
            question.inputInterface == "eth0" ? .error(errno: "EINVAL", code: 22) : Self.healthy(question)
        }
        let finding = try #require(host.evaluate().findings.first { $0.rule == "published-port-unreachable" })
        #expect(finding.evidence.first { $0.name == "hop" }?.value == "rp-filter")
    }

    @Test("the model breaks strict rp_filter but the kernel forwards: the kernel decides, no alarm, a disagreement")
    func kernelOverridesTheModel() throws {
        let host = Self.host(Self.healthy) { host in
            host.snapshot.ipv4Conf["eth0"]?.rpFilter = 1
            host.snapshot.ipv4Conf["all"]?.rpFilter = 0  // the kernel applies the maximum of the two
            // A piece of eth0's subnet routed elsewhere: the model's strict check fails its clients.
            host.snapshot.routes.append(Route(destination: "192.0.2.192/26", outputInterface: 3))
        }
        let evaluation = host.evaluate()
        #expect(!evaluation.findings.contains { $0.rule == "published-port-unreachable" }, "\(evaluation.findings)")
        let rp = Self.forwardHop(host).first { $0.name == .reversePathFilter }
        #expect(rp?.passes == true, "\(Self.forwardHop(host))")
        #expect(evaluation.modelDisagreements.contains { $0.contains("rp-filter") })
        // Without the kernel's answers the model alone raises it.
        var modelOnly = host
        modelOnly.snapshot.routeDecisions = nil
        #expect(modelOnly.evaluate().findings.contains { $0.rule == "published-port-unreachable" })
    }

    @Test("the reply direction refused (forwarding off on the bridge): named at egress-forwarding")
    func replyRefused() throws {
        let host = Self.host { question in
            question.inputInterface == "docker0" && question.source == "172.17.0.2"
                ? .error(errno: "EHOSTUNREACH", code: 113) : Self.healthy(question)
        }
        let finding = try #require(host.evaluate().findings.first { $0.rule == "published-port-unreachable" })
        #expect(finding.evidence.first { $0.name == "hop" }?.value == "egress-forwarding")
    }
}
