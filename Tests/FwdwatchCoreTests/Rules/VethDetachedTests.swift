import Testing

@testable import FwdwatchCore

@Suite("veth-detached")
struct VethDetachedTests {
    let rule = VethDetached()

    /// The healthy host after `ip link set dev veth1 nomaster`: the container's port left docker0.
    private func detachedHost() -> DockerHost {
        var host = DockerHost()
        host.modifyLink("veth1") { $0.master = nil; $0.bridgePortState = nil }
        host.modifyLink("docker0") { $0.carrier = false; $0.operState = "down" }
        return host
    }

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("a container veth detached from docker0 is a warning, fixed by re-attaching it")
    func detached() throws {
        let finding = try onlyFinding(detachedHost().findings(of: rule))
        #expect(finding.rule == "veth-detached")
        #expect(finding.subject == "veth1")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "veth1")
        #expect(finding.evidenceByName == ["master": "none", "ipv4_addresses": "0", "routes": "0"])
        #expect(
            finding.fix == "ip link set dev veth1 master docker0  # or restart the container so its engine re-attaches it")
        #expect(finding.message.contains("veth veth1 is up but attached to no bridge"))
    }

    @Test("with several bridges the fix cannot guess which one")
    func severalBridges() throws {
        var host = detachedHost()
        host.addBridge("br-app", address: "172.18.0.1", prefixLength: 16, ports: ["veth2"])
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.fix.hasPrefix("ip link set dev veth1 master <bridge>"))
        #expect(finding.message.contains("br-app, docker0"))
    }

    @Test("several detached veths are reported sorted by name")
    func several() {
        var host = detachedHost()
        host.snapshot.links.append(Link(index: 40, name: "veth0", kind: "veth"))
        #expect(host.findings(of: rule).map(\.subject) == ["veth0", "veth1"])
    }

    @Test("a routed veth (Calico style) or one with an address is not detached")
    func routedOrAddressed() {
        var routed = detachedHost()
        routed.addRoute("10.244.1.7/32", dev: "veth1")
        #expect(routed.findings(of: rule).isEmpty)

        var addressed = detachedHost()
        addressed.snapshot.addresses.append(
            Address(interfaceIndex: addressed.index(of: "veth1"), address: "10.200.0.1", prefixLength: 30))
        #expect(addressed.findings(of: rule).isEmpty)
    }

    @Test("a veth that is down, or a host with no watched bridge, gives no finding")
    func quietCases() {
        var down = detachedHost()
        down.modifyLink("veth1") { $0.adminUp = false }
        #expect(down.findings(of: rule).isEmpty)

        #expect(detachedHost().findings(of: rule, settings: Settings(watchedBridges: [Glob("br-*")])).isEmpty)
    }

    @Test("an ignored veth is dropped by the evaluator")
    func ignored() {
        #expect(keys(detachedHost().evaluate()) == ["veth-detached veth1"])
        #expect(detachedHost().evaluate(Settings(ignoredInterfaces: [Glob("veth*")])).findings.isEmpty)
    }
}
