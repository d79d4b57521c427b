import Testing

@testable import FwdwatchCore

@Suite("bridge-down")
struct BridgeDownTests {
    let rule = BridgeDown()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("docker0 down with a container attached is critical")
    func down() throws {
        var host = DockerHost()
        host.setBridgeDown()
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-down")
        #expect(finding.subject == "docker0")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "docker0")
        #expect(finding.fix == "ip link set dev docker0 up")
        #expect(finding.evidence("admin_up") == "false")
        #expect(finding.evidence("oper_state") == "down")
        #expect(finding.evidence("ports") == "veth1")
        #expect(finding.message.contains("Bridge docker0 is down"))
    }

    @Test("the ports are listed sorted by name and counted in the message")
    func twoPorts() throws {
        var host = DockerHost()
        host.addPort("veth0")
        host.setBridgeDown()
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("ports") == "veth0,veth1")
        #expect(finding.message.contains("2 ports are attached"))
    }

    @Test("the message agrees in number with a single port")
    func onePortGrammar() throws {
        var host = DockerHost()
        host.setBridgeDown()
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.message.contains("1 port is attached"))
    }

    @Test("a bridge that is down but has no ports gives no finding")
    func downWithoutPorts() {
        var host = DockerHost()
        host.removePorts()
        host.setBridgeDown()
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("down suppresses the route, port, address and carrier findings: only bridge-down is reported")
    func suppressesOthers() {
        var host = DockerHost()
        host.setBridgeDown()
        #expect(keys(host.evaluate()) == ["bridge-down docker0"])
    }

    @Test("watched-bridges globs choose the bridges")
    func watchedBridges() {
        var host = DockerHost()
        host.setBridgeDown()
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*")])).isEmpty)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("docker[0-9]")])).count == 1)
    }
}
