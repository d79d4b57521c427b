import Testing

@testable import FwdwatchCore

@Suite("HostView")
struct HostViewTests {
    private func address(_ text: String) throws -> IPv4Address { try #require(IPv4Address(text)) }

    /// The destination of the route the view picks for `text`, with its device, or nil.
    private func lookup(_ view: HostView, _ text: String) throws -> String? {
        guard let route = view.route(to: try address(text)) else { return nil }
        return "\(route.destination) dev \(view.name(of: route.outputInterface) ?? "-") metric \(route.metric)"
    }

    // MARK: Routes

    @Test("route lookup takes the longest prefix")
    func longestPrefix() throws {
        var host = DockerHost()
        host.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0", metric: 500)
        let view = host.view()
        #expect(try lookup(view, "172.17.0.2") == "172.17.0.0/16 dev docker0 metric 0")
        #expect(try lookup(view, "172.17.5.9") == "172.17.5.0/24 dev eth0 metric 500")
        #expect(try lookup(view, "192.0.2.77") == "192.0.2.0/24 dev eth0 metric 0")
        #expect(try lookup(view, "8.8.8.8") == "0.0.0.0/0 dev eth0 metric 0")
    }

    @Test("between equal prefixes the lowest metric wins, whatever the order")
    func lowestMetric() throws {
        var host = DockerHost()
        host.addInterface("tun0", address: "10.8.0.2", prefixLength: 24)
        host.setMetric("172.17.0.0/16", dev: "docker0", 425)
        host.addRoute("172.17.0.0/16", dev: "tun0", metric: 50)
        host.addRoute("172.17.0.0/16", dev: "eth0", metric: 900)
        #expect(try lookup(host.view(), "172.17.0.2") == "172.17.0.0/16 dev tun0 metric 50")
        host.snapshot.routes.reverse()
        #expect(try lookup(host.view(), "172.17.0.2") == "172.17.0.0/16 dev tun0 metric 50")
    }

    @Test("only the main table's unicast, blackhole, unreachable and prohibit routes are used")
    func routableOnly() throws {
        var host = DockerHost()
        host.addRoute("10.0.0.0/8", via: "192.0.2.254", dev: "eth0", table: 100)
        host.addRoute("10.1.0.0/16", dev: "eth0", type: "local", table: Route.localTable)
        host.addRoute("10.2.0.0/16", dev: "eth0", type: "broadcast")
        host.addRoute("10.3.0.0/16", type: "prohibit")
        host.addRoute("10.4.0.0/16", type: "blackhole")
        host.addRoute("garbage", dev: "eth0")
        let view = host.view()
        #expect(try lookup(view, "10.0.0.1") == "0.0.0.0/0 dev eth0 metric 0")
        #expect(try lookup(view, "10.1.0.1") == "0.0.0.0/0 dev eth0 metric 0")
        #expect(try lookup(view, "10.2.0.1") == "0.0.0.0/0 dev eth0 metric 0")
        #expect(try lookup(view, "10.3.0.1") == "10.3.0.0/16 dev - metric 0")
        #expect(try lookup(view, "10.4.0.1") == "10.4.0.0/16 dev - metric 0")
        #expect(view.mainRoutes.count == 5)
    }

    @Test("without a matching route there is none")
    func noRoute() throws {
        var host = DockerHost()
        host.removeRoutes("0.0.0.0/0")
        #expect(try lookup(host.view(), "8.8.8.8") == nil)
        #expect(host.view().defaultRoutes.isEmpty)
    }

    @Test("default routes are listed best metric first")
    func defaultRoutes() {
        var host = DockerHost()
        host.setMetric("0.0.0.0/0", dev: "eth0", 600)
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.addRoute("default", via: "198.51.100.1", dev: "eth1", metric: 100)
        #expect(host.view().defaultRoutes.map(\.metric) == [100, 600])
    }

    // MARK: Sysctls

    @Test("effective rp_filter is the larger of all and the interface's own", arguments: [
        // all, own, effective
        (Int?.some(0), Int?.some(1), Int?.some(1)), (2, 1, 2), (1, 0, 1), (1, 2, 2), (0, 0, 0),
        (nil, 1, 1), (2, nil, 2), (nil, nil, nil),
    ])
    func effectiveRPFilter(all: Int?, own: Int?, effective: Int?) throws {
        var host = DockerHost()
        host.setRPFilter("all", all)
        host.setRPFilter("eth0", own)
        let view = host.view()
        let eth0 = try #require(view.link(named: "eth0"))
        #expect(view.effectiveRPFilter(eth0) == effective)
    }

    @Test("sysctl keys turn dots in interface names into slashes")
    func sysctlKey() {
        #expect(HostView.sysctlKey("eth0", "forwarding") == "net.ipv4.conf.eth0.forwarding")
        #expect(HostView.sysctlKey("eth0.100", "rp_filter") == "net.ipv4.conf.eth0/100.rp_filter")
        #expect(HostView.sysctlKey("bond0.20.30", "forwarding") == "net.ipv4.conf.bond0/20/30.forwarding")
    }

    // MARK: Links

    @Test("bridges are the watched links of kind bridge, sorted, with their ports sorted")
    func bridgesAndPorts() throws {
        var host = DockerHost()
        host.addBridge("br-b", address: "172.19.0.1", prefixLength: 16, ports: [])
        host.addBridge("br-a", address: "172.18.0.1", prefixLength: 16, ports: ["vethz", "vetha"])
        host.addInterface("bond0", kind: "bond", address: "198.51.100.2", prefixLength: 24)
        host.snapshot.links.append(Link(index: 60, name: "eno1", master: host.index(of: "bond0")))
        let view = host.view()
        #expect(view.bridges.map(\.name) == ["br-a", "br-b", "docker0"])
        #expect(view.bridgesWithPorts.map(\.name) == ["br-a", "docker0"])
        let brA = try #require(view.link(named: "br-a"))
        #expect(view.ports(of: brA).map(\.name) == ["vetha", "vethz"])
        let bond = try #require(view.link(named: "bond0"))
        #expect(view.ports(of: bond).isEmpty)
        #expect(view.needsForwarding)

        let watched = host.view(Settings(watchedBridges: [Glob("br-?")]))
        #expect(watched.bridges.map(\.name) == ["br-a", "br-b"])
    }

    @Test("a host whose bridges have no ports does not need forwarding")
    func noForwardingNeeded() {
        var host = DockerHost()
        host.removePorts()
        #expect(!host.view().needsForwarding)
        #expect(host.view().bridges.map(\.name) == ["docker0"])
    }

    @Test("ingress interfaces: up, with carrier and IPv4, not loopback, not enslaved, not ignored")
    func ingressInterfaces() {
        var host = DockerHost()
        host.addInterface("eth1", address: "198.51.100.10", prefixLength: 24)
        host.modifyLink("eth1") { $0.carrier = false }
        host.addInterface("eth2", address: "203.0.113.10", prefixLength: 24)
        host.modifyLink("eth2") { $0.adminUp = false }
        host.addInterface("eth3", address: "203.0.113.20", prefixLength: 24)
        host.removeAddresses(of: "eth3")
        host.addInterface("wg0", address: "10.9.0.1", prefixLength: 24)
        #expect(host.view().ingressInterfaces.map(\.name) == ["docker0", "eth0", "wg0"])
        #expect(host.view(Settings(ignoredInterfaces: [Glob("wg*")])).ingressInterfaces.map(\.name) == ["docker0", "eth0"])
    }

    @Test("malformed addresses and prefix lengths are skipped, not fatal")
    func malformedAddresses() throws {
        var host = DockerHost()
        let eth0 = host.index(of: "eth0")
        host.snapshot.addresses += [
            Address(interfaceIndex: eth0, address: "999.1.1.1", prefixLength: 24),
            Address(interfaceIndex: eth0, address: "198.51.100.1", prefixLength: 33),
            Address(interfaceIndex: eth0, address: "198.51.100.2", prefixLength: -1),
            Address(interfaceIndex: eth0, family: .ipv6, address: "2001:db8::1", prefixLength: 64),
        ]
        let view = host.view()
        let link = try #require(view.link(named: "eth0"))
        #expect(view.ipv4(of: link).map { "\($0.address)/\($0.prefix)" } == ["192.0.2.10/192.0.2.0/24"])
    }

    @Test("names of unknown or missing indexes are nil")
    func names() {
        let view = DockerHost().view()
        #expect(view.name(of: 3) == "docker0")
        #expect(view.name(of: 99) == nil)
        #expect(view.name(of: nil) == nil)
    }

    // MARK: Drop evidence

    @Test("drop evidence: count, rate with at most two decimals, interval; nothing when nothing dropped")
    func dropEvidence() {
        var host = DockerHost()
        #expect(host.view().dropEvidence.isEmpty)
        host.recordDrops(inAddrErrors: 0, forwDatagrams: 9)
        #expect(host.view().dropEvidence.isEmpty)
        host.recordDrops(inAddrErrors: 1, seconds: 3)
        #expect(
            host.view().dropEvidence == [
                Evidence("in_addr_errors", "1"), Evidence("in_addr_errors_per_second", "0.33"),
                Evidence("sample_seconds", "3"),
            ])
        host.recordDrops(inAddrErrors: 21, seconds: 0.5)
        #expect(host.view().dropEvidence.map(\.value) == ["21", "42", "0.5"])
        host.recordDrops(inAddrErrors: 1, seconds: 20)
        #expect(host.view().dropEvidence.map(\.value) == ["1", "0.05", "20"])
    }

    @Test("a recorded drop sample with a zero interval is reported, not fatal")
    func zeroIntervalSample() async {
        // A snapshot file decodes DropSample without its failable init's checks, so seconds can be 0:
        // the rate would be infinite; it must neither trap nor be reported as evidence.
        await #expect(processExitsWith: .success) {
            var host = DockerHost()
            host.recordDrops(inAddrErrors: 5, seconds: 0)
            _ = host.view().dropEvidence
            _ = Evaluator().evaluate(host.snapshot)
        }
    }

    @Test("a drop sample is the growth between two readings, or nil when they cannot be compared")
    func dropSample() throws {
        let sample = try #require(
            DropSample(
                from: ["InAddrErrors": 10, "ForwDatagrams": 100], to: ["InAddrErrors": 40, "ForwDatagrams": 90],
                seconds: 5))
        #expect(sample.inAddrErrors == 30)
        #expect(sample.forwDatagrams == 0)
        #expect(sample.inAddrErrorsPerSecond == 6)
        #expect(DropSample(from: ["InAddrErrors": 10], to: ["InAddrErrors": 9], seconds: 5) == nil)
        #expect(DropSample(from: ["InAddrErrors": 10], to: ["InAddrErrors": 11], seconds: 0) == nil)
        #expect(DropSample(from: [:], to: ["InAddrErrors": 11], seconds: 1) == nil)
    }
}
