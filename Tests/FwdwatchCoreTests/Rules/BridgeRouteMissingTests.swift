import Testing

@testable import FwdwatchCore

@Suite("bridge-route-missing")
struct BridgeRouteMissingTests {
    let rule = BridgeRouteMissing()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("docker0's subnet without a route is critical, with the kernel's own route as the fix")
    func missing() throws {
        var host = DockerHost()
        host.removeRoutes("172.17.0.0/16")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-route-missing")
        #expect(finding.subject == "172.17.0.0/16")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.evidence("bridge") == "docker0")
        #expect(finding.evidence("prefix") == "172.17.0.0/16")
        #expect(finding.evidence("address") == "172.17.0.1/16")
        #expect(finding.fix == "ip route add 172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1")
        #expect(finding.message.contains("no route for 172.17.0.0/16 via bridge docker0"))
    }

    @Test("the subnet routed out of another interface counts as missing")
    func routedElsewhere() throws {
        var host = DockerHost()
        host.removeRoutes("172.17.0.0/16")
        host.addRoute("172.17.0.0/16", via: "192.0.2.254", dev: "eth0")
        #expect(try onlyFinding(host.findings(of: rule)).subject == "172.17.0.0/16")
    }

    @Test("a route in another table, or a blackhole, does not count")
    func notUsable() {
        var otherTable = DockerHost()
        otherTable.removeRoutes("172.17.0.0/16")
        otherTable.addRoute("172.17.0.0/16", dev: "docker0", table: 100)
        #expect(otherTable.findings(of: rule).count == 1)

        var blackhole = DockerHost()
        blackhole.removeRoutes("172.17.0.0/16")
        blackhole.addRoute("172.17.0.0/16", dev: "docker0", type: "blackhole")
        #expect(blackhole.findings(of: rule).count == 1)
    }

    @Test("a host address (/32) on the bridge needs no subnet route")
    func hostAddress() {
        var host = DockerHost()
        host.removeAddresses(of: "docker0")
        host.removeRoutes("172.17.0.0/16")
        host.snapshot.addresses.append(
            Address(interfaceIndex: host.index(of: "docker0"), address: "172.17.0.1", prefixLength: 32))
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a bridge that is down, or without ports, gives no finding")
    func quietCases() {
        var down = DockerHost()
        down.setBridgeDown()
        #expect(down.findings(of: rule).isEmpty)

        var empty = DockerHost()
        empty.removePorts()
        empty.removeRoutes("172.17.0.0/16")
        #expect(empty.findings(of: rule).isEmpty)
    }
}
