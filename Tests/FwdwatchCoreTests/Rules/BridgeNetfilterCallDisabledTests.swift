import Testing

@testable import FwdwatchCore

@Suite("bridge-nf-call-disabled")
struct BridgeNetfilterCallDisabledTests {
    let rule = BridgeNetfilterCallDisabled()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("bridge-nf-call-iptables=0 is info, fixed by the sysctl")
    func off() throws {
        var host = DockerHost()
        host.snapshot.bridgeNetfilter?.callIptables = 0
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-nf-call-disabled")
        #expect(finding.subject == "net.bridge.bridge-nf-call-iptables")
        #expect(finding.severity == .info)
        #expect(finding.interface == nil)
        #expect(finding.evidenceByName == ["sysctl": "net.bridge.bridge-nf-call-iptables", "value": "0"])
        #expect(finding.fix == "sysctl -w net.bridge.bridge-nf-call-iptables=1")
        #expect(finding.message.contains("bypasses iptables (bridge-nf-call-iptables: 0)"))
    }

    @Test("br_netfilter not loaded: the fix loads it first")
    func notLoaded() throws {
        var host = DockerHost()
        host.snapshot.bridgeNetfilter = nil
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.evidence("value") == "br_netfilter not loaded")
        #expect(finding.fix == "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1")
        #expect(finding.message.contains("br_netfilter not loaded"))
    }

    @Test("an unreadable value, or a host without containers, gives no finding")
    func quietCases() {
        var unreadable = DockerHost()
        unreadable.snapshot.bridgeNetfilter?.callIptables = nil
        #expect(unreadable.findings(of: rule).isEmpty)

        var empty = DockerHost()
        empty.removePorts()
        empty.snapshot.bridgeNetfilter = nil
        #expect(empty.findings(of: rule).isEmpty)
    }
}
