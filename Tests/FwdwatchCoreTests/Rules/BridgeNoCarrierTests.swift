import Testing

@testable import FwdwatchCore

@Suite("bridge-no-carrier")
struct BridgeNoCarrierTests {
    let rule = BridgeNoCarrier()

    /// docker0 up with its container port up, but the port stuck in STP listening: no carrier.
    private func stuckHost() -> DockerHost {
        var host = DockerHost()
        host.setPortState("veth1", .listening)
        host.modifyLink("docker0") { $0.carrier = false; $0.operState = "down" }
        return host
    }

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("an up bridge with an up port but no carrier is critical")
    func noCarrier() throws {
        let finding = try onlyFinding(stuckHost().findings(of: rule))
        #expect(finding.rule == "bridge-no-carrier")
        #expect(finding.subject == "docker0")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.evidence("carrier") == "false")
        #expect(finding.evidence("oper_state") == "down")
        #expect(finding.evidence("up_ports") == "veth1")
        #expect(finding.fix.hasPrefix("bridge link show master docker0"))
        #expect(finding.message.contains("no carrier"))
        #expect(finding.message.contains("veth1"))
    }

    @Test("only up ports are listed")
    func onlyUpPorts() throws {
        var host = stuckHost()
        host.addPort("veth2", state: .disabled)
        host.modifyLink("veth2") { $0.adminUp = false }
        #expect(try onlyFinding(host.findings(of: rule)).evidence("up_ports") == "veth1")
    }

    @Test("docker0 without containers is down/no-carrier, and that is healthy")
    func noContainers() {
        var host = DockerHost()
        host.removePorts()
        #expect(host.link("docker0")?.carrier == false)
        #expect(host.findings(of: rule).isEmpty)
        #expect(host.evaluate().findings.isEmpty)
    }

    @Test("no carrier because every port is down: the port rule speaks, not this one")
    func portsDown() {
        var host = stuckHost()
        host.modifyLink("veth1") { $0.carrier = false }
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("a bridge that is administratively down is left to bridge-down")
    func adminDown() {
        var host = DockerHost()
        host.setBridgeDown()
        host.modifyLink("veth1") { $0.bridgePortState = .forwarding }
        #expect(host.findings(of: rule).isEmpty)
    }
}
