import CNetlink
import Foundation
import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

/// NetlinkDump and NetlinkWatcher against real kernel state, inside network namespaces made per test.
@Suite("Netlink dump and watcher", .serialized, .enabled(if: isRoot, rootRequired))
struct NetlinkTests {
    @Test("A dump reads bridge, veth, addresses, routes and netconf")
    func dumpReadsBridgeTopology() async throws {
        let namespace = try NetworkNamespace(prefix: "fwt-nl", disableIPv6: false)
        defer { namespace.delete() }
        try buildBridgeTopology(in: namespace)
        try namespace.setSysctl("net.ipv4.conf.v1.forwarding", "0")
        try namespace.setSysctl("net.ipv4.conf.br0.rp_filter", "2")

        // Carrier and port state follow through the kernel's linkwatch (rate-limited): wait for them.
        var state = NetlinkState()
        let settled = try await eventually {
            state = try NetlinkDump.read(namespacePath: namespace.path)
            return state.link("v0")?.bridgePortState == .forwarding && state.link("br0")?.carrier == true
        }
        #expect(settled, "v0 never became a forwarding port of a bridge with carrier: \(state.links)")

        let bridge = try #require(state.link("br0"))
        let port = try #require(state.link("v0"))
        let peer = try #require(state.link("v1"))
        let loopback = try #require(state.link("lo"))
        #expect(state.links.count == 4, "one link per ifindex: \(state.links.map(\.name))")
        #expect(bridge.kind == "bridge" && bridge.adminUp && bridge.master == nil && bridge.bridgePortState == nil)
        #expect(port.kind == "veth" && port.master == bridge.index && port.carrier && port.operState == "up")
        #expect(peer.kind == "veth" && peer.master == nil && peer.bridgePortState == nil && peer.mtu == 1500)
        #expect(loopback.loopback && loopback.kind == nil && !port.loopback)

        #expect(state.addresses.contains(Address(interfaceIndex: bridge.index, address: "10.77.0.1", prefixLength: 24)))
        #expect(state.addresses.contains(Address(interfaceIndex: peer.index, address: "10.88.0.2", prefixLength: 24)))
        #expect(state.addresses.contains(Address(interfaceIndex: loopback.index, address: "127.0.0.1", prefixLength: 8)))
        #expect(
            state.addresses.contains(
                Address(interfaceIndex: loopback.index, family: .ipv6, address: "::1", prefixLength: 128)))

        #expect(
            state.routes.contains(
                Route(destination: "0.0.0.0/0", gateway: "10.88.0.1", outputInterface: peer.index, metric: 100)))
        #expect(state.routes.contains(Route(destination: "10.77.0.0/24", outputInterface: bridge.index)))
        #expect(
            state.routes.contains(
                Route(destination: "10.77.0.1/32", outputInterface: bridge.index, type: "local", table: Route.localTable)))
        #expect(
            state.routes.contains(
                Route(
                    destination: "10.77.0.255/32", outputInterface: bridge.index, type: "broadcast",
                    table: Route.localTable)))
        #expect(state.routes.allSatisfy { $0.table == Route.mainTable || $0.table == Route.localTable })

        #expect(state.ipv4Netconf["all"]?.forwarding == 1)
        #expect(state.ipv4Netconf["default"]?.forwarding == 1)
        #expect(state.ipv4Netconf["v0"]?.forwarding == 1)
        #expect(state.ipv4Netconf["v1"]?.forwarding == 0)
        #expect(state.ipv4Netconf["br0"] == NetconfValues(forwarding: 1, rpFilter: 2))
        #expect(state.ipv4Netconf["lo"]?.forwarding == 1)
        #expect(state.ipv6Forwarding["all"] == 0 && state.ipv6Forwarding["default"] == 0)
        #expect(state.ipv6Forwarding["lo"] == 0)
    }

    @Test("A missing namespace is an error, not a crash")
    func missingNamespaceThrows() throws {
        let path = "/run/netns/fwt-missing-\(randomSuffix())"
        #expect(throws: NetlinkError.self) { try NetlinkDump.read(namespacePath: path) }
        let watcher = NetlinkWatcher(namespacePath: path)
        #expect(throws: NetlinkError.self) { try watcher.updates() }
    }

    @Test("The watcher follows sysctl, link down, unbridging and removal, and stops promptly")
    func watcherFollowsLiveChanges() async throws {
        let namespace = try NetworkNamespace(prefix: "fwt-nl")
        defer { namespace.delete() }
        try buildBridgeTopology(in: namespace)

        let watcher = NetlinkWatcher(namespacePath: namespace.path)
        defer { watcher.stop() }
        let log = UpdateLog(try watcher.updates())
        #expect(await eventually { log.initialState != nil }, "no initial state")
        #expect((watcher.receiveBufferSize ?? 0) >= 4 << 20, "receive buffer \(watcher.receiveBufferSize ?? 0)")
        let initial = try #require(log.initialState)
        let peerIndex = try #require(initial.link("v1")?.index)
        #expect(initial.ipv4Netconf["v1"]?.forwarding == 1)
        #expect(initial.routes.contains { $0.destination == "0.0.0.0/0" && $0.outputInterface == peerIndex })

        // A sysctl write with an RTM_NEWNETCONF event.
        try namespace.setSysctl("net.ipv4.conf.v1.forwarding", "0")
        #expect(
            await eventually(timeout: .seconds(5)) { log.latestState?.ipv4Netconf["v1"]?.forwarding == 0 },
            "forwarding=0 on v1 never showed up")
        // RTM_NEWNETCONF carries only the changed value; the cache merges it into the object.
        #expect(log.latestState?.ipv4Netconf["v1"]?.rpFilter != nil)
        #expect(log.changedCount >= 1)

        // Administratively down: the kernel drops the link's IPv4 routes without RTM_DELROUTE.
        try namespace.setLink("v1", up: false)
        #expect(
            await eventually(timeout: .seconds(5)) {
                guard let state = log.latestState else { return false }
                return state.link("v1")?.adminUp == false
                    && !state.routes.contains { $0.outputInterface == peerIndex && $0.table == Route.mainTable }
            }, "routes of v1 survived its going down: \(log.latestState?.routes ?? [])")

        // Leaving the bridge deletes only the AF_BRIDGE object: the link stays.
        try namespace.ip(["link", "set", "v0", "nomaster"])
        #expect(
            await eventually(timeout: .seconds(5)) {
                guard let port = log.latestState?.link("v0") else { return false }
                return port.master == nil && port.bridgePortState == nil
            }, "v0 did not show up unbridged: \(log.latestState?.link("v0").map { "\($0)" } ?? "missing")")

        try namespace.deleteLink("v0")  // takes its peer v1 along
        #expect(
            await eventually(timeout: .seconds(5)) {
                guard let state = log.latestState else { return false }
                return state.link("v0") == nil && state.link("v1") == nil && state.ipv4Netconf["v0"] == nil
            }, "deleted veth pair still present")

        let settled = await eventually(timeout: .seconds(5)) {
            (try? NetlinkDump.read(namespacePath: namespace.path)) == log.latestState
        }
        #expect(settled, "watcher state differs from a fresh dump")
        #expect(log.resyncReasons.isEmpty, "unexpected resyncs: \(log.resyncReasons)")
        #expect(log.failures.isEmpty, "failures: \(log.failures)")
        #expect(watcher.skippedMessages == 0)

        let stopped = ContinuousClock.now
        watcher.stop()
        #expect(await eventually(timeout: .seconds(2)) { log.finished }, "stream did not end after stop()")
        let stopLatency = ContinuousClock.now - stopped
        #expect(stopLatency < .milliseconds(500), "stop took \(stopLatency)")
        watcher.stop()  // idempotent
    }

    @Test("A burst of 300 veth pairs gives few updates and ends equal to a fresh dump")
    func burstIsCoalesced() async throws {
        let namespace = try NetworkNamespace(prefix: "fwt-nl")
        defer { namespace.delete() }
        let watcher = NetlinkWatcher(namespacePath: namespace.path)
        defer { watcher.stop() }
        let log = UpdateLog(try watcher.updates())
        #expect(await eventually { log.initialState != nil }, "no initial state")
        let before = try #require(log.initialState).links.count

        let pairs = 300
        var batch = ""
        for index in 0..<pairs {
            batch += "link add vb\(index) type veth peer name vp\(index)\n"
            batch += "link set vb\(index) up\nlink set vp\(index) up\n"
        }
        let started = ContinuousClock.now
        try runBatch(batch, in: namespace)
        let created = ContinuousClock.now - started

        var dump: NetlinkState?
        let converged = await eventually(timeout: .seconds(60)) {
            guard let latest = log.latestState, latest.links.count == before + 2 * pairs else { return false }
            dump = try? NetlinkDump.read(namespacePath: namespace.path)
            return dump == latest
        }
        #expect(converged, "final state \(log.latestState?.links.count ?? 0) links, dump \(dump?.links.count ?? 0)")
        let updates = log.changedCount + log.resyncReasons.count
        print(
            "netlink burst: \(pairs) veth pairs created in \(created), \(updates) updates "
                + "(\(log.changedCount) changed, \(log.resyncReasons.count) resynced, \(log.eventCount) events), "
                + "receive buffer \(watcher.receiveBufferSize ?? 0) bytes")
        #expect(log.changedCount >= 1, "only resyncs: \(log.resyncReasons)")
        #expect(updates < pairs / 2, "\(updates) updates for \(pairs) veth pairs: not coalesced")
        #expect(log.failures.isEmpty, "failures: \(log.failures)")
    }

    @Test("An overrun of the receive queue yields .resynced with a correct state")
    func overrunResyncs() async throws {
        let namespace = try NetworkNamespace(prefix: "fwt-nl")
        defer { namespace.delete() }
        let watcher = NetlinkWatcher(receiveBufferBytes: 4096, namespacePath: namespace.path)
        defer { watcher.stop() }
        let log = UpdateLog(try watcher.updates())
        #expect(await eventually { log.initialState != nil }, "no initial state")
        let before = try #require(log.initialState).links.count
        #expect((watcher.receiveBufferSize ?? .max) < 64 << 10, "buffer \(watcher.receiveBufferSize ?? 0)")

        watcher.suspendReadingForTesting()
        let pairs = 40
        var batch = ""
        for index in 0..<pairs { batch += "link add ov\(index) type veth peer name op\(index)\n" }
        try runBatch(batch, in: namespace)
        watcher.resumeReadingForTesting()

        #expect(await eventually(timeout: .seconds(5)) { !log.resyncReasons.isEmpty }, "no .resynced after overrun")
        let converged = await eventually(timeout: .seconds(10)) {
            guard let latest = log.latestState, latest.links.count == before + 2 * pairs else { return false }
            return (try? NetlinkDump.read(namespacePath: namespace.path)) == latest
        }
        #expect(converged, "state after resync: \(log.latestState?.links.count ?? 0) links, want \(before + 2 * pairs)")
        #expect(log.resyncReasons.first?.contains("overrun") == true, "reasons: \(log.resyncReasons)")
        #expect(log.failures.isEmpty, "failures: \(log.failures)")
    }

    // MARK: Helpers

    /// br0 (10.77.0.1/24) with port v0; its peer v1 (10.88.0.2/24) carries the default route via
    /// 10.88.0.1 metric 100; forwarding=1 everywhere.
    private func buildBridgeTopology(in namespace: NetworkNamespace) throws {
        try namespace.addBridge(name: "br0", address: "10.77.0.1/24")
        try namespace.addVethPair("v0", "v1")
        try namespace.attach(port: "v0", to: "br0")
        try namespace.addAddress("10.88.0.2/24", to: "v1")
        try namespace.ip(["route", "add", "default", "via", "10.88.0.1", "dev", "v1", "metric", "100"])
        try namespace.setSysctl("net.ipv4.conf.all.forwarding", "1")
    }

    private func runBatch(_ commands: String, in namespace: NetworkNamespace) throws {
        try Shell.run(["ip", "-n", namespace.name, "-batch", "-"], timeout: .seconds(120), input: commands)
    }
}

extension NetlinkState {
    func link(_ name: String) -> Link? { links.first { $0.name == name } }
}

/// Collects a watcher's updates on a task, for tests to inspect while it runs.
final class UpdateLog: @unchecked Sendable {
    private let lock = NSLock()
    private var updates: [NetlinkUpdate] = []
    private var ended = false

    init(_ stream: AsyncStream<NetlinkUpdate>) {
        Task { [self] in
            for await update in stream { record(update) }
            lock.withLock { ended = true }
        }
    }

    private func record(_ update: NetlinkUpdate) {
        lock.withLock { updates.append(update) }
    }

    var finished: Bool { lock.withLock { ended } }
    var latestState: NetlinkState? { lock.withLock { updates.last(where: { $0.state != nil })?.state } }

    var initialState: NetlinkState? {
        lock.withLock {
            for case .initial(let state) in updates { return state }
            return nil
        }
    }

    var changedCount: Int {
        lock.withLock { updates.filter { if case .changed = $0 { true } else { false } }.count }
    }

    var eventCount: Int {
        lock.withLock { updates.reduce(0) { if case .changed(_, let events) = $1 { $0 + events } else { $0 } } }
    }

    var resyncReasons: [String] {
        lock.withLock { updates.compactMap { if case .resynced(_, let reason) = $0 { reason } else { nil } } }
    }

    var failures: [String] {
        lock.withLock { updates.compactMap { if case .failed(let message) = $0 { message } else { nil } } }
    }
}

/// Polls `condition` without blocking a cooperative thread, for at most `timeout`.
func eventually(
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(20), _ condition: () throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}
