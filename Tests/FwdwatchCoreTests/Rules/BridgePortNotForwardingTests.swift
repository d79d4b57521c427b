import Testing

@testable import FwdwatchCore

@Suite("bridge-port-not-forwarding")
struct BridgePortNotForwardingTests {
    let rule = BridgePortNotForwarding()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("a port that is administratively down is critical, fixed by bringing it up")
    func adminDown() throws {
        var host = DockerHost()
        host.modifyLink("veth1") { $0.adminUp = false; $0.carrier = false; $0.bridgePortState = .disabled }
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-port-not-forwarding")
        #expect(finding.subject == "docker0/veth1")
        #expect(finding.severity == .critical)
        #expect(finding.interface == "veth1")
        #expect(finding.fix == "ip link set dev veth1 up")
        #expect(
            finding.evidenceByName == [
                "bridge": "docker0", "port": "veth1", "admin_up": "false", "carrier": "false", "stp_state": "disabled",
            ])
        #expect(finding.message.contains("Port veth1 of bridge docker0 is administratively down"))
    }

    @Test("a port without carrier points at its peer")
    func noCarrier() throws {
        var host = DockerHost()
        host.modifyLink("veth1") { $0.carrier = false }
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.fix.hasPrefix("ip link show veth1"))
        #expect(finding.evidence("carrier") == "false")
        #expect(finding.message.contains("has no carrier"))
    }

    @Test("blocking and disabled STP states are fixed by setting the port forwarding", arguments: [
        BridgePortState.blocking, .disabled,
    ])
    func blocked(state: BridgePortState) throws {
        var host = DockerHost()
        host.setPortState("veth1", state)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.fix.hasPrefix("bridge link set dev veth1 state 3"))
        #expect(finding.evidence("stp_state") == state.rawValue)
        #expect(finding.message.contains("is in STP state \(state.rawValue), not forwarding"))
    }

    @Test("listening and learning wait for STP, or turn it off on the bridge", arguments: [
        BridgePortState.listening, .learning,
    ])
    func converging(state: BridgePortState) throws {
        var host = DockerHost()
        host.setPortState("veth1", state)
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.fix.contains("ip link set dev docker0 type bridge stp_state 0"))
        #expect(finding.evidence("stp_state") == state.rawValue)
    }

    @Test("an unknown STP state on an up port is not reported")
    func unknownState() {
        var host = DockerHost()
        host.setPortState("veth1", nil)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("each broken port gets its own finding; healthy ones none")
    func manyPorts() {
        var host = DockerHost()
        host.addPort("veth2", state: .blocking)
        host.addPort("veth3")
        host.addBridge("br-app", address: "172.18.0.1", prefixLength: 16, ports: ["veth9"])
        host.modifyLink("veth9") { $0.adminUp = false }
        #expect(host.findings(of: rule).map(\.subject) == ["br-app/veth9", "docker0/veth2"])
    }

    @Test("a bridge that is down suppresses its port findings")
    func bridgeDown() {
        var host = DockerHost()
        host.setBridgeDown()
        #expect(host.link("veth1")?.bridgePortState == .disabled)
        #expect(host.findings(of: rule).isEmpty)
    }

    @Test("ignored ports and unwatched bridges give no finding")
    func ignoredAndUnwatched() {
        var host = DockerHost()
        host.setPortState("veth1", .blocking)
        #expect(host.findings(of: rule, settings: Settings(ignoredInterfaces: [Glob("veth*")])).isEmpty)
        #expect(host.findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*")])).isEmpty)
        #expect(host.findings(of: rule, settings: Settings(ignoredInterfaces: [Glob("eth*")])).count == 1)
    }

    @Test("a bond's slaves are not bridge ports")
    func bondSlaves() {
        var host = DockerHost()
        host.addInterface("bond0", kind: "bond", address: "198.51.100.2", prefixLength: 24)
        host.snapshot.links.append(
            Link(index: 50, name: "eno1", adminUp: false, carrier: false, master: host.index(of: "bond0")))
        #expect(host.findings(of: rule).isEmpty)
    }
}
