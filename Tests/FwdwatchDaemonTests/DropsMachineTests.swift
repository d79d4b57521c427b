import FwdwatchConfig
import FwdwatchCore
import FwdwatchJournal
import Testing

@testable import FwdwatchDaemon

/// Drop attribution in the daemon's state machine: the probe's readings feed the snapshot (the last minute),
/// the new ones are attributed once (notices and metrics), and a probe that cannot load is said once.
@Suite("The daemon's state machine: drops")
struct DropsMachineTests {
    static let flow = DropFlow(
        ingressIndex: 2, reason: "IP_INADDRERRORS", transport: "tcp", destination: "192.0.2.10",
        destinationPort: 10001, beforeDNAT: true)

    static func files(_ drops: DropProbeState?) -> HostFiles {
        var files = Fixtures.hostFiles()
        files.drops = drops
        return files
    }

    static func reading(_ packets: UInt64, client: String = "192.0.2.1") -> DropProbeState {
        .reading(
            DropReading(
                seconds: 5,
                counts: packets == 0 ? [] : [DropCount(flow: flow, packets: packets, clients: [client])]))
    }

    static let observation = DropObservation(
        port: "10001/tcp", ingress: "eth0", reason: "IP_INADDRERRORS", count: 2, clients: ["192.0.2.1"],
        targets: ["172.17.0.2:80"], seconds: 5)

    @Test("a probe that cannot load is said once, with its reason; the daemon runs on")
    func unavailableOnce() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let reason = "not permitted to load BPF programs (Operation not permitted): it needs CAP_BPF and CAP_PERFMON"
        let first = harness.send(.hostFilesRead(Self.files(.unavailable(reason))))
        let notice = try #require(first.notices.first { $0.id == JournalMessageID.dropsUnavailable })
        #expect(notice.message == "Drop attribution is off: \(reason). fwdwatch runs on without it.")
        #expect(first.evaluations == 1, "the sweep still evaluates")
        harness.answerEvaluation()
        let second = harness.send(.hostFilesRead(Self.files(.unavailable(reason))))
        #expect(second.notices.isEmpty)
    }

    @Test("readings feed the evaluation: the window's drops, and the new ones handed over once")
    func readingsFeedTheEvaluation() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let first = try #require(harness.send(.hostFilesRead(Self.files(Self.reading(2)))).first { $0.isEvaluate }?.evaluationRequest)
        #expect(first.drops?.packets == 2)
        #expect(first.newDrops?.packets == 2)
        harness.answerEvaluation()
        harness.advance(.seconds(5))
        let second = try #require(harness.send(.hostFilesRead(Self.files(Self.reading(0)))).first { $0.isEvaluate }?.evaluationRequest)
        #expect(second.drops?.packets == 2, "the last minute keeps the drops between retransmits")
        #expect(second.newDrops == nil, "handed over once")
        harness.answerEvaluation()
        harness.advance(.seconds(61))
        let later = try #require(harness.send(.hostFilesRead(Self.files(Self.reading(0)))).first { $0.isEvaluate }?.evaluationRequest)
        #expect(later.drops?.packets == 0)
    }

    @Test("without drop attribution the request carries no drops")
    func off() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let request = try #require(harness.send(.hostFilesRead(Self.files(nil))).first { $0.isEvaluate }?.evaluationRequest)
        #expect(request.drops == nil && request.newDrops == nil)
    }

    @Test("new drops of a published port: counted, and a notice with the clients, port, ingress and reason once a minute")
    func observedNotice() throws {
        var harness = MachineHarness()
        harness.startRunning()
        harness.send(.hostFilesRead(Self.files(Self.reading(2))))
        let actions = harness.answerEvaluation(dropObservations: [Self.observation])
        #expect(actions.contains { if case .publish(.drops(let seen)) = $0 { seen == [Self.observation] } else { false } })
        let notice = try #require(actions.notices.first { $0.id == JournalMessageID.dropsObserved })
        #expect(
            notice.message
                == "Dropped: 2 packets from 192.0.2.1 to published port 10001/tcp (-> 172.17.0.2:80) on eth0, "
                + "IP_INADDRERRORS: the ingress does not forward (forwarding=0) or the destination is invalid.")
        #expect(notice.field("FWDWATCH_DROPS") == "2")
        #expect(notice.field("FWDWATCH_DROP_REASON") == "IP_INADDRERRORS")
        #expect(notice.field("FWDWATCH_DROP_CLIENTS") == "192.0.2.1")
        #expect(notice.field("FWDWATCH_PORT") == "10001/tcp")
        #expect(notice.field("FWDWATCH_INGRESS") == "eth0")
        // Within the minute: counted, not said again; after it, said again.
        harness.advance(.seconds(5))
        harness.send(.hostFilesRead(Self.files(Self.reading(1))))
        #expect(harness.answerEvaluation(dropObservations: [Self.observation]).notices.isEmpty)
        harness.advance(.seconds(60))
        harness.send(.hostFilesRead(Self.files(Self.reading(1))))
        #expect(harness.answerEvaluation(dropObservations: [Self.observation]).notices.count == 1)
    }

    @Test("turning drop attribution on or off takes a restart")
    func restartNeeded() throws {
        var fresh = Configuration()
        fresh.drops.enabled = true
        #expect(Configuration().keysNeedingRestart(fresh) == ["drops.enabled"])
    }
}
