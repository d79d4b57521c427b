import Foundation
import FwdwatchConfig
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchMetrics
import FwdwatchNetlink
import FwdwatchProc
import Logging
import Synchronization
import Testing

@testable import FwdwatchDaemon

/// An output that keeps what it was given.
final class RecordingOutput: DaemonOutput {
    private let events = Mutex<[DaemonEvent]>([])

    func deliver(_ event: DaemonEvent) -> [DaemonNotice] {
        events.withLock { $0.append(event) }
        return []
    }

    var all: [DaemonEvent] { events.withLock { $0 } }

    var notices: [DaemonNotice] {
        all.compactMap { if case .notice(let notice) = $0 { notice } else { nil } }
    }

    var systemd: [SystemdNotification] {
        all.compactMap { if case .systemd(let notification) = $0 { notification } else { nil } }
    }
}

@Suite("The driver carries out the machine's actions", .serialized)
struct DaemonDriverTests {
    func driver(root: String, outputs: [any DaemonOutput], inputs: DaemonInputs) -> DaemonDriver {
        DaemonDriver(
            outputs: outputs, repairer: ForwardingRepairer(writer: ProcWriter(root: root)),
            hostFiles: HostFileReader(root: root), firewall: FirewallReaderService(inputs: inputs),
            watcher: NetlinkWatcherService(receiveBufferBytes: 1 << 20, coalescingWindow: .milliseconds(20), inputs: inputs),
            timers: DaemonTimers(inputs: inputs), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    @Test("a start on a proc tree: the host files are read, the first evaluation runs, READY=1 follows the started notice")
    func startToReady() async throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        writeProcTree(scratch, forwarding: ["all": 1, "default": 1, "eth0": 0, "docker0": 1])
        let inputs = DaemonInputs()
        let recording = RecordingOutput()
        var driver = driver(root: scratch.path, outputs: [recording], inputs: inputs)
        var machine = DaemonStateMachine(
            configuration: Configuration(daemon: DaemonOptions(flapHold: .zero)), start: .now, watchdogInterval: nil)

        #expect(await !driver.carryOut(machine.handle(.start, now: .now), on: &machine))
        let netlink = NetlinkState(
            links: [Link(index: 2, name: "eth0"), Link(index: 3, name: "docker0", kind: "bridge")],
            addresses: [Address(interfaceIndex: 3, address: "172.17.0.1", prefixLength: 16)],
            ipv4Netconf: ["all": NetconfValues(forwarding: 1), "eth0": NetconfValues(forwarding: 0)])
        #expect(await !driver.carryOut(machine.handle(.netlink(.initial(netlink)), now: .now), on: &machine))
        #expect(recording.systemd.isEmpty, "the rules are not read yet")
        #expect(await !driver.carryOut(machine.handle(.firewallRead(.state(FirewallState())), now: .now), on: &machine))

        #expect(machine.isRunning)
        let started = try #require(recording.notices.first { $0.id == JournalMessageID.started })
        #expect(started.message.hasPrefix("fwdwatch started: "))
        #expect(recording.systemd.last == .ready)
        let sweeps = recording.all.filter { if case .swept = $0 { true } else { false } }
        #expect(sweeps.count == 1, "the first sweep's metrics, once the rules were read")

        let stop = machine.handle(.shutdown, now: .now)
        #expect(await driver.carryOut(stop, on: &machine))
        #expect(recording.notices.last?.id == JournalMessageID.stopping)
        #expect(recording.systemd.last == .stopping)
    }

    @Test("what an output says about itself (a textfile it cannot write) reaches every output")
    func outputNoticesFanOut() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let inputs = DaemonInputs()
        let recording = RecordingOutput()
        let metrics = DaemonMetrics(version: "test")
        let textfile = MetricsTextfile(directory: scratch.path + "/missing-directory")
        var driver = driver(
            root: scratch.path, outputs: [MetricsOutput(metrics: metrics, textfile: textfile), recording], inputs: inputs)
        let record = EvaluationRecord(
            evaluation: Evaluation(findings: []), alerts: [], transitions: [], duration: .milliseconds(1))
        driver.publish(.evaluated(record))
        let notice = try #require(recording.notices.first)
        #expect(notice.message.hasPrefix("Cannot write the metrics textfile (cannot create "))
        #expect(notice.message.hasSuffix("; retrying after each evaluation."))
        driver.publish(.evaluated(record))
        #expect(recording.notices.count == 1, "said once while it keeps failing")
        #expect(metrics.exposition().contains("fwdwatch_evaluations_total 2"))
    }
}

@Suite("The firewall reader's thread, with stand-in tools", .serialized)
struct FirewallReaderServiceTests {
    /// A tool directory whose iptables-nft-save logs each run and takes `seconds`, and whose nft lists no table.
    func tools(_ scratch: ScratchDirectory, seconds: Double) -> FirewallReader {
        scratch.write(
            "tools/iptables-nft-save",
            "#!/bin/sh\necho run >> \(scratch.path)/runs\nsleep \(seconds)\nprintf '*filter\\n:FORWARD ACCEPT [0:0]\\nCOMMIT\\n'\n",
            permissions: 0o755)
        scratch.write("tools/nft", "#!/bin/sh\necho '{\"nftables\": []}'\n", permissions: 0o755)
        return FirewallReader(toolDirectories: [scratch.path + "/tools"], tableListing: .nft)
    }

    func runs(_ scratch: ScratchDirectory) -> Int {
        (scratch.read("runs") ?? "").split(separator: "\n").count
    }

    @Test("requests during a read are served by one more read after it; never two at once")
    func coalescesRequestsDuringARead() async throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let inputs = DaemonInputs()
        let service = FirewallReaderService(inputs: inputs, reader: tools(scratch, seconds: 0.3))
        let running = Task { try await service.run() }
        defer { running.cancel() }

        service.requestRead()
        try await Task.sleep(for: .milliseconds(100))
        for _ in 0..<3 { service.requestRead() }

        var results: [FirewallReading] = []
        let collector = Task {
            var results: [FirewallReading] = []
            for await input in inputs.stream {
                if case .firewallRead(let reading) = input { results.append(reading) }
                if results.count == 2 { break }
            }
            return results
        }
        results = await collector.value
        #expect(results.count == 2)
        #expect(results.allSatisfy { $0.state?.tables.map(\.name) == ["filter"] })
        try await Task.sleep(for: .milliseconds(500))
        #expect(runs(scratch) == 2, "one read, then one more for the requests made during it")
    }

    @Test("the read runs off the concurrency pool: it goes on while every pool thread is blocked")
    func readDoesNotNeedThePool() async throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let inputs = DaemonInputs()
        let service = FirewallReaderService(inputs: inputs, reader: tools(scratch, seconds: 0))
        let running = Task { try await service.run() }
        defer { running.cancel() }
        try await Task.sleep(for: .milliseconds(200))  // the service started its thread

        // Block every thread of the cooperative pool until the tool has run (or 5 s): a read that needed a
        // pool thread could not start meanwhile.
        service.requestRead()
        let clock = ContinuousClock()
        let started = clock.now
        let width = ProcessInfo.processInfo.activeProcessorCount
        let seen = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<width {
                group.addTask {
                    while clock.now - started < .seconds(5) {
                        if runs(scratch) > 0 { return true }
                        usleep(5_000)
                    }
                    return false
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(seen, "the tool ran while the pool was blocked")
        var iterator = inputs.stream.makeAsyncIterator()
        let first = await iterator.next()
        if case .firewallRead = first {} else { Issue.record("no reading: \(String(describing: first))") }
    }
}
