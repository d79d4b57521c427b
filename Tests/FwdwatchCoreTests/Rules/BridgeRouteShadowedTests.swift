import Testing

@testable import FwdwatchCore

@Suite("bridge-route-shadowed")
struct BridgeRouteShadowedTests {
    let rule = BridgeRouteShadowed()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("a more specific LAN route inside 172.17.0.0/16 shadows part of docker0")
    func moreSpecific() throws {
        var host = DockerHost()
        host.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-route-shadowed")
        #expect(finding.subject == "172.17.0.0/16")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.evidence("bridge") == "docker0")
        #expect(finding.evidence("prefix") == "172.17.0.0/16")
        #expect(finding.evidence("shadowing_routes") == "172.17.5.0/24 via 192.0.2.254 dev eth0")
        #expect(finding.fix == "ip route del 172.17.5.0/24 dev eth0  # or move the bridge to a subnet that does not overlap")
        #expect(finding.message.contains("172.17.0.0/16 on bridge docker0 is routed elsewhere"))
        #expect(finding.message.contains("172.17.5.0/24 via 192.0.2.254 dev eth0"))
    }

    @Test("the same prefix with a better metric on another interface shadows the whole subnet")
    func betterMetric() throws {
        var host = DockerHost()
        host.addInterface("tun0", address: "10.8.0.2", prefixLength: 24)
        host.setMetric("172.17.0.0/16", dev: "docker0", 425)
        host.addRoute("172.17.0.0/16", dev: "tun0", metric: 50)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("shadowing_routes") == "172.17.0.0/16 dev tun0 metric 50")
        #expect(finding.fix.hasPrefix("ip route del 172.17.0.0/16 dev tun0 metric 50"))
    }

    @Test("the same prefix with an equal or worse metric elsewhere does not shadow")
    func worseMetric() {
        var host = DockerHost()
        host.addInterface("tun0", address: "10.8.0.2", prefixLength: 24)
        host.setMetric("172.17.0.0/16", dev: "docker0", 100)
        host.addRoute("172.17.0.0/16", dev: "tun0", metric: 100)
        host.addRoute("172.17.0.0/16", dev: "eth0", metric: 600)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a less specific route, or a more specific one through the bridge itself, does not shadow")
    func notShadowing() {
        var host = DockerHost()
        host.addRoute("172.16.0.0/12", via: "192.0.2.254", dev: "eth0")
        host.addRoute("172.17.9.0/24", dev: "docker0")
        host.addRoute("172.18.0.0/16", via: "192.0.2.254", dev: "eth0")
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a blackhole inside the subnet shadows it and is named by its type")
    func blackhole() throws {
        var host = DockerHost()
        host.addRoute("172.17.9.0/24", type: "blackhole")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("shadowing_routes") == "blackhole 172.17.9.0/24")
        #expect(finding.fix.hasPrefix("ip route del 172.17.9.0/24  #"))
    }

    @Test("several shadows are listed in one finding")
    func several() throws {
        var host = DockerHost()
        host.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0")
        host.addRoute("172.17.6.0/24", via: "192.0.2.254", dev: "eth0")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(
            finding.evidence("shadowing_routes")
                == "172.17.5.0/24 via 192.0.2.254 dev eth0; 172.17.6.0/24 via 192.0.2.254 dev eth0")
        #expect(finding.fix.hasPrefix("ip route del 172.17.5.0/24 dev eth0; ip route del 172.17.6.0/24 dev eth0"))
    }

    @Test("routes in the local table or in other tables do not shadow")
    func otherTables() {
        var host = DockerHost()
        host.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0", table: 100)
        host.addRoute("172.17.0.2", dev: "eth0", type: "local", table: Route.localTable)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("with the bridge's own route missing, the same prefix elsewhere is left to bridge-route-missing")
    func ownRouteMissing() {
        var host = DockerHost()
        host.removeRoutes("172.17.0.0/16")
        host.addRoute("172.17.0.0/16", via: "192.0.2.254", dev: "eth0")
        #expect(host.findings(of: rule).isEmpty)
        #expect(keys(host.evaluate()) == ["bridge-route-missing 172.17.0.0/16"])
    }

    @Test("a bridge that is down, or without ports, gives no finding")
    func quietCases() {
        var down = DockerHost()
        down.setBridgeDown()
        down.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0")
        #expect(down.findings(of: rule).isEmpty)

        var empty = DockerHost()
        empty.removePorts()
        empty.addRoute("172.17.5.0/24", via: "192.0.2.254", dev: "eth0")
        #expect(empty.findings(of: rule).isEmpty)
    }
}
