import CNetlink
import Foundation
import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

/// The kernel's answers in the incident's namespaces (see IncidentTopology). Every expectation below is
/// what the kernel said when measured with `ip route get` in the same topology.
@Suite("Kernel route lookup in namespaces", .serialized, .enabled(if: isRoot, rootRequired))
struct KernelRouteLookupTests {
    typealias T = IncidentTopology
    /// A client's packet for the container, as it arrives on the uplink (after DNAT).
    static let inbound = RouteQuestion(inputInterface: T.uplink, source: T.clientAddress, destination: T.containerAddress)
    /// The container's reply, as it arrives on the bridge.
    static let reply = RouteQuestion(inputInterface: T.bridge, source: T.containerAddress, destination: T.clientAddress)

    func ask(_ questions: [RouteQuestion], in topology: IncidentTopology) throws -> [RouteAnswer] {
        let decisions = try KernelRouteLookup.ask(questions, namespacePath: topology.host.path)
        #expect(decisions.map(\.question) == questions)
        return decisions.map(\.answer)
    }

    @Test("Healthy: the client's packet goes out docker0, the reply out eth0; both directions in one batch")
    func healthy() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        let answers = try ask([Self.inbound, Self.reply], in: topology)
        #expect(answers == [
            .route(type: "unicast", outputInterface: T.bridge, gateway: nil),
            .route(type: "unicast", outputInterface: T.uplink, gateway: nil),
        ])
    }

    @Test("eth0.forwarding=0: EHOSTUNREACH for the client's packet; the reply direction still routes")
    func uplinkForwardingOff() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        try topology.host.setSysctl("net.ipv4.conf.\(T.uplink).forwarding", "0")
        let answers = try ask([Self.inbound, Self.reply], in: topology)
        #expect(answers == [
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
            .route(type: "unicast", outputInterface: T.uplink, gateway: nil),
        ])
    }

    @Test("The host's own lookup (ip route get DST) tells forwarding off from an unreachable route")
    func outputLookupTellsForwardingFromRoute() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        let output = RouteQuestion.output(to: Self.inbound.destination)
        try topology.host.setSysctl("net.ipv4.conf.\(T.uplink).forwarding", "0")
        #expect(try ask([Self.inbound, output], in: topology) == [
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
            .route(type: "unicast", outputInterface: T.bridge, gateway: nil),
        ])
        try topology.host.setSysctl("net.ipv4.conf.\(T.uplink).forwarding", "1")
        try topology.host.ip(["route", "add", "unreachable", "\(Self.inbound.destination)/32"])
        #expect(try ask([Self.inbound, output], in: topology) == [
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
        ])
    }

    @Test("docker0.forwarding=0 is invisible inbound; the reply direction says EHOSTUNREACH")
    func bridgeForwardingOff() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        try topology.host.setSysctl("net.ipv4.conf.\(T.bridge).forwarding", "0")
        let answers = try ask([Self.inbound, Self.reply], in: topology)
        #expect(answers == [
            .route(type: "unicast", outputInterface: T.bridge, gateway: nil),
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
        ])
    }

    @Test("Strict rp_filter on eth0 with the client's subnet routed out elsewhere: EINVAL; loose passes")
    func strictReversePathFilter() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        // A more specific route sends the client's half of 192.0.2.0/24 out of another interface.
        try topology.host.addVethPair("asym0", "asym1")
        try topology.host.ip(["route", "add", "192.0.2.0/25", "dev", "asym0"])
        #expect(try ask([Self.inbound], in: topology) == [.route(type: "unicast", outputInterface: T.bridge, gateway: nil)])

        try topology.host.setSysctl("net.ipv4.conf.\(T.uplink).rp_filter", "1")
        #expect(try ask([Self.inbound], in: topology) == [.error(errno: "EINVAL", code: EINVAL)])

        try topology.host.setSysctl("net.ipv4.conf.\(T.uplink).rp_filter", "2")
        #expect(try ask([Self.inbound], in: topology) == [.route(type: "unicast", outputInterface: T.bridge, gateway: nil)])
    }

    @Test("Bridge route deleted: the default route takes the packet back out eth0; without it ENETUNREACH")
    func bridgeRouteDeleted() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        try topology.host.ip(["route", "del", T.bridgeSubnet, "dev", T.bridge])
        // Measured: with the default route in place the kernel hairpins the packet to the gateway
        // (`ip route get` shows `via 192.0.2.1 dev eth0 ... cache <redirect>`), it does not fail.
        #expect(try ask([Self.inbound], in: topology) == [
            .route(type: "unicast", outputInterface: T.uplink, gateway: T.clientAddress)
        ])
        try topology.host.ip(["route", "del", "default"])
        #expect(try ask([Self.inbound], in: topology) == [.error(errno: "ENETUNREACH", code: ENETUNREACH)])
    }

    @Test("Other answers: local, broadcast, a gateway, blackhole/unreachable/prohibit routes, a martian source")
    func otherAnswers() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        try topology.host.ip(["route", "add", "blackhole", "10.9.9.0/24"])
        try topology.host.ip(["route", "add", "unreachable", "10.9.8.0/24"])
        try topology.host.ip(["route", "add", "prohibit", "10.9.7.0/24"])
        func from(_ client: String = T.clientAddress, to destination: String, iif: String = T.uplink) -> RouteQuestion {
            RouteQuestion(inputInterface: iif, source: client, destination: destination)
        }
        let answers = try ask(
            [
                from(to: T.hostAddress),
                from(to: "192.0.2.255"),
                from(T.containerAddress, to: "198.51.100.7", iif: T.bridge),
                from(to: "10.9.9.1"),
                from(to: "10.9.8.1"),
                from(to: "10.9.7.1"),
                from("127.0.0.1", to: T.containerAddress),
            ], in: topology)
        // An input lookup meeting a blackhole / unreachable / prohibit route answers with the error such a
        // packet gets, not with the route (measured with `ip route get ... iif eth0` as well).
        #expect(answers == [
            .route(type: "local", outputInterface: nil, gateway: nil),
            .route(type: "broadcast", outputInterface: nil, gateway: nil),
            .route(type: "unicast", outputInterface: T.uplink, gateway: T.clientAddress),
            .error(errno: "EINVAL", code: EINVAL),
            .error(errno: "EHOSTUNREACH", code: EHOSTUNREACH),
            .error(errno: "EACCES", code: EACCES),
            .error(errno: "EINVAL", code: EINVAL),
        ])
    }

    @Test("Duplicates are asked once; a missing interface is ENODEV; a non-IPv4 question gets no decision")
    func duplicatesAndMissingInterfaces() async throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        let missing = RouteQuestion(inputInterface: "nosuch0", source: T.clientAddress, destination: T.containerAddress)
        let malformed = RouteQuestion(inputInterface: T.uplink, source: "2001:db8::1", destination: T.containerAddress)
        let decisions = try await KernelRouteLookup.askOffPool(
            [Self.inbound, missing, Self.reply, Self.inbound, malformed, missing, Self.reply],
            namespacePath: topology.host.path)
        #expect(decisions == [
            RouteDecision(question: Self.inbound, answer: .route(type: "unicast", outputInterface: T.bridge, gateway: nil)),
            RouteDecision(question: missing, answer: .error(errno: "ENODEV", code: ENODEV)),
            RouteDecision(question: Self.reply, answer: .route(type: "unicast", outputInterface: T.uplink, gateway: nil)),
        ])
        #expect(try KernelRouteLookup.ask([], namespacePath: topology.host.path).isEmpty)
    }

    @Test("A missing namespace is a thrown error naming it")
    func missingNamespace() throws {
        #expect {
            try KernelRouteLookup.ask([Self.inbound], namespacePath: "/run/netns/fwt-rl-does-not-exist")
        } throws: { error in
            "\(error)".contains("/run/netns/fwt-rl-does-not-exist")
        }
    }

    @Test("Replies lost to a full receive buffer are asked again; when they stay lost the error says so")
    func overrunIsRecoveredOrReported() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        let requests = (0..<KernelRouteLookup.window).map { number in
            RouteLookupRequest(
                tag: number, inputInterfaceIndex: 0, source: IPv4Address("192.0.2.1")!.value,
                destination: IPv4Address("172.17.1.\(1 + number)")!.value)
        }
        let outcome = try topology.host.onThreadInside { () -> (answered: Int, error: String) in
            let uplink = if_nametoindex(T.uplink)
            let asked = requests.map { var request = $0; request.inputInterfaceIndex = uplink; return request }
            // The smallest buffer the kernel grants holds a few replies: most of a window is dropped (ENOBUFS).
            let recovered = try RouteLookupSocket(receiveBufferBytes: 1).exchange(asked, attempts: 1000)
            let failure: String
            do {
                _ = try RouteLookupSocket(receiveBufferBytes: 1).exchange(asked, attempts: 2)
                failure = ""
            } catch {
                failure = "\(error)"
            }
            return (Set(recovered.map(\.tag)).count, failure)
        }
        #expect(outcome.answered == requests.count)
        #expect(outcome.error.contains("got no answer after 2 attempts"), "\(outcome.error)")
    }

    /// Not a timed assertion: prints how long 10,000 distinct questions take in one batch.
    /// `swift test --skip-build --filter KernelRouteLookupTests/tenThousandQuestions`
    @Test("10,000 distinct questions in one batch: all answered")
    func tenThousandQuestions() throws {
        let topology = try IncidentTopology(prefix: "fwt-rl")
        defer { topology.delete() }
        // 172.17.0.0/16 minus the bridge's own addresses: distinct destinations, all forwarded to docker0.
        let questions = (0..<10_000).map { number in
            RouteQuestion(
                inputInterface: T.uplink, source: T.clientAddress,
                destination: "172.17.\(1 + number / 250).\(1 + number % 250)")
        }
        _ = try KernelRouteLookup.ask(Array(questions.prefix(10)), namespacePath: topology.host.path)
        var timings: [Duration] = []
        var decisions: [RouteDecision] = []
        for _ in 0..<5 {
            let started = ContinuousClock.now
            decisions = try KernelRouteLookup.ask(questions, namespacePath: topology.host.path)
            timings.append(.now - started)
        }
        #expect(decisions.count == questions.count)
        #expect(decisions.map(\.question) == questions)
        #expect(decisions.allSatisfy { $0.answer == .route(type: "unicast", outputInterface: T.bridge, gateway: nil) })
        let sorted = timings.sorted()
        print("KernelRouteLookup: 10,000 questions in one batch: median \(sorted[2]), min \(sorted[0]), max \(sorted[4])")
    }
}
