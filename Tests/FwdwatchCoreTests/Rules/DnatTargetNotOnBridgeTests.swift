import Testing

@testable import FwdwatchCore

@Suite struct DnatTargetNotOnBridgeTests {
    let rule = DnatTargetNotOnBridge()

    @Test("Docker's rules: 172.17.0.2 is on docker0, no finding")
    func healthy() {
        #expect(DockerHost.withRules().findings(of: rule).isEmpty)
    }

    @Test("the container's network is gone (docker0 deleted): the DNAT goes out by the default route")
    func networkGone() throws {
        var host = DockerHost.withRules()
        host.removeAddresses(of: "docker0")
        host.snapshot.links.removeAll { $0.name == "docker0" || $0.name == "veth1" }
        host.removeRoutes("172.17.0.0/16")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.subject == "10001/tcp")
        #expect(finding.severity == .warning)
        #expect(finding.evidenceByName["target"] == "172.17.0.2:80")
        #expect(finding.message.contains("leave by eth0 on the default route"))
        #expect(finding.fix.contains("docker ps --filter publish=10001"))
    }

    @Test("without any route to it, the message says so")
    func noRoute() throws {
        var host = DockerHost.withRules()
        host.removeAddresses(of: "docker0")
        host.removePorts(of: "docker0")
        host.removeRoutes("172.17.0.0/16")
        host.removeRoutes("0.0.0.0/0")
        #expect(try onlyFinding(host.findings(of: rule)).message.contains("there is no route to it"))
    }

    @Test("a bridge with ports but no address may hold the target: left to bridge-no-address")
    func bridgeWithoutAddress() {
        var host = DockerHost.withRules()
        host.removeAddresses(of: "docker0")
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a DNAT to a host behind a specific gateway route is port forwarding on purpose, not a finding")
    func routedOnPurpose() {
        var host = DockerHost.withRules()
        host.removeAddresses(of: "docker0")
        host.removePorts(of: "docker0")
        host.removeRoutes("172.17.0.0/16")
        host.addRoute("172.17.0.0/16", via: "192.0.2.254", dev: "eth0")
        #expect(host.findings(of: rule).isEmpty)
    }
}
