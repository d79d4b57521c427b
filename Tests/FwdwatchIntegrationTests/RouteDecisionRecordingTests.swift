import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Testing

/// The kernel's route decisions as `fwdwatch snapshot` records them and as the daemon asks them, in the
/// incident's namespaces with Docker 20.10's rules (DNAT 10001/tcp -> 172.17.0.2:80).
@Suite("Route decisions recorded", .serialized, .enabled(if: isRoot, rootRequired))
struct RouteDecisionRecordingTests {
    static let rules = RecordedFixture.path(RecordedFixture.docker2010Rules)

    func publishedIncident() throws -> IncidentTopology {
        let topology = try IncidentTopology(prefix: "fwt-rd")
        do {
            try topology.host.exec(["iptables-restore"], input: try String(contentsOfFile: Self.rules, encoding: .utf8))
        } catch {
            topology.delete()
            throw error
        }
        return topology
    }

    func snapshot(_ topology: IncidentTopology) throws -> Snapshot {
        let result = try topology.host.exec([fwdwatchBinary(), "snapshot"])
        return try JSONDecoder().decode(Snapshot.self, from: Data(result.stdout.utf8))
    }

    /// The decisions for clients arriving on eth0 for the container.
    func inbound(_ snapshot: Snapshot) -> [RouteDecision] {
        (snapshot.routeDecisions ?? []).filter {
            $0.question.inputInterface == IncidentTopology.uplink
                && $0.question.destination == IncidentTopology.containerAddress
        }
    }

    @Test("`fwdwatch snapshot` records the kernel's answers: docker0 when healthy, EHOSTUNREACH with eth0.forwarding=0")
    func snapshotRecordsDecisions() throws {
        let topology = try publishedIncident()
        defer { topology.delete() }

        let healthy = try snapshot(topology)
        let healthyInbound = inbound(healthy)
        #expect(!healthyInbound.isEmpty, "no question for eth0 -> 172.17.0.2: \(healthy.routeDecisions ?? [])")
        for decision in healthyInbound {
            #expect(decision.answer == .route(type: "unicast", outputInterface: "docker0", gateway: nil), "\(decision)")
        }
        // The same question put by `ip route get` gets the same answer from the kernel.
        if let question = healthyInbound.first?.question {
            let ip = try topology.host.exec([
                "ip", "route", "get", question.destination, "from", question.source, "iif", question.inputInterface,
            ])
            #expect(ip.stdout.contains("dev docker0"), "\(ip.stdout)")
        }

        try topology.host.setSysctl("net.ipv4.conf.\(IncidentTopology.uplink).forwarding", "0")
        let broken = try snapshot(topology)
        let brokenInbound = inbound(broken)
        #expect(brokenInbound.map(\.question) == healthyInbound.map(\.question))
        for decision in brokenInbound {
            #expect(decision.answer == .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH), "\(decision)")
        }
    }

    @Test("A host with nothing to ask (no bridge, no published port) records no routeDecisions field")
    func noQuestionsNoField() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-rd")
        defer { namespace.delete() }
        let result = try namespace.exec([fwdwatchBinary(), "snapshot"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["links"] != nil)
        #expect(object?["routeDecisions"] == nil)
    }

    @Test("Recorded snapshots without routeDecisions still decode; decisions survive a round trip")
    func oldSnapshotsDecode() throws {
        let files = GoldenTests.cases.map(GoldenTests.snapshot)
        #expect(!files.isEmpty)
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(!String(decoding: data, as: UTF8.self).contains("routeDecisions"), "\(file)")
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: data)
            #expect(snapshot.routeDecisions == nil, "\(file)")
        }
        let question = RouteQuestion(inputInterface: "eth0", source: "192.0.2.254", destination: "172.17.0.2")
        let original = Snapshot(routeDecisions: [
            RouteDecision(question: question, answer: .route(type: "unicast", outputInterface: "docker0", gateway: nil)),
            RouteDecision(question: question, answer: .error(errno: "EHOSTUNREACH", code: 113)),
        ])
        let decoded = try JSONDecoder().decode(Snapshot.self, from: try JSONEncoder().encode(original))
        #expect(decoded == original)
    }

    @Test("The daemon asks at evaluations and counts the questions in its stopped notice")
    func daemonCountsQuestions() throws {
        let topology = try publishedIncident()
        defer { topology.delete() }
        let daemon = try DaemonProcess(
            namespace: topology.host, configText: "[daemon]\nsweep-interval-seconds = 1\nflap-hold-seconds = 0\n")
        defer { daemon.stop() }
        #expect(daemon.waitUntilStarted(), "stderr: \(daemon.stderr)")
        // Forwarding off on the uplink, back on: each change drops the cache, so the questions are asked again.
        try topology.host.setSysctl("net.ipv4.conf.\(IncidentTopology.uplink).forwarding", "0")
        Thread.sleep(forTimeInterval: 0.3)
        try topology.host.setSysctl("net.ipv4.conf.\(IncidentTopology.uplink).forwarding", "1")
        Thread.sleep(forTimeInterval: 0.3)
        #expect(daemon.stop()?.status == 0)
        let stopped = daemon.notices.first { ($0["message"] as? String)?.hasPrefix("fwdwatch stopped") == true }
        let fields = stopped?["fields"] as? [String: String] ?? [:]
        let asked = Int(fields["FWDWATCH_ROUTE_QUESTIONS"] ?? "") ?? 0
        let snapshotQuestions = inbound(try snapshot(topology)).count
        // At least three rounds of the eth0 questions: the first evaluation and after each change.
        #expect(asked >= 3 * snapshotQuestions && snapshotQuestions > 0, "\(stopped ?? [:])")
        #expect(!daemon.notices.contains { ($0["message"] as? String)?.contains("route lookup failed") == true })
    }
}
