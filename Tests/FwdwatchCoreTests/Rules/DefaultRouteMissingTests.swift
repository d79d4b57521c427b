import Testing

@testable import FwdwatchCore

@Suite("default-route-missing")
struct DefaultRouteMissingTests {
    let rule = DefaultRouteMissing()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("no default route while docker0 has a container is a warning")
    func missing() throws {
        var host = DockerHost()
        host.removeRoutes("0.0.0.0/0")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "default-route-missing")
        #expect(finding.subject == "0.0.0.0/0")
        #expect(finding.severity == .warning)
        #expect(finding.interface == nil)
        #expect(finding.evidence("main_table_routes") == "2")
        #expect(finding.fix.hasPrefix("ip route add default via <gateway> dev <uplink>"))
        #expect(finding.message.contains("no IPv4 default route"))
    }

    @Test("a default that is a blackhole, unreachable, or in another table does not count")
    func unusableDefaults() {
        var host = DockerHost()
        host.removeRoutes("0.0.0.0/0")
        host.addRoute("0.0.0.0/0", metric: 4_278_198_272, type: "unreachable")
        host.addRoute("0.0.0.0/0", type: "blackhole")
        host.addRoute("0.0.0.0/0", via: "192.0.2.1", dev: "eth0", table: 100)
        #expect(host.findings(of: rule).count == 1)
    }

    @Test("a default route spelled \"default\" counts")
    func spelledDefault() {
        var host = DockerHost()
        host.removeRoutes("0.0.0.0/0")
        host.addRoute("default", via: "192.0.2.1", dev: "eth0")
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a host with no containers needs no default route for them")
    func noContainers() {
        var host = DockerHost()
        host.removePorts()
        host.removeRoutes("0.0.0.0/0")
        #expect(host.findings(of: rule).isEmpty)
    }
}
