import Testing

@testable import FwdwatchCore

@Suite("bridge-no-address")
struct BridgeNoAddressTests {
    let rule = BridgeNoAddress()

    @Test("a healthy Docker host gives no finding")
    func healthy() {
        #expect(DockerHost().findings(of: rule).isEmpty)
    }

    @Test("docker0 with a container and no IPv4 address is a warning")
    func noAddress() throws {
        var host = DockerHost()
        host.removeAddresses(of: "docker0")
        let finding = try onlyFinding(host.findings(of: rule))
        #expect(finding.rule == "bridge-no-address")
        #expect(finding.subject == "docker0")
        #expect(finding.severity == .warning)
        #expect(finding.interface == "docker0")
        #expect(finding.evidence("ipv4_addresses") == "0")
        #expect(finding.evidence("ports") == "1")
        #expect(finding.fix.hasPrefix("ip address add <gateway>/<prefix> dev docker0"))
        #expect(finding.message.contains("no IPv4 address"))
        #expect(finding.message.contains("no gateway"))
    }

    @Test("an IPv6 address alone does not count")
    func ipv6Only() throws {
        var host = DockerHost()
        host.removeAddresses(of: "docker0")
        host.snapshot.addresses.append(
            Address(interfaceIndex: host.index(of: "docker0"), family: .ipv6, address: "fd00::1", prefixLength: 64))
        #expect(try onlyFinding(host.findings(of: rule)).subject == "docker0")
    }

    @Test("a bridge without ports, or one that is down, gives no finding")
    func quietCases() {
        var empty = DockerHost()
        empty.removeAddresses(of: "docker0")
        empty.removePorts()
        #expect(empty.findings(of: rule).isEmpty)

        var down = DockerHost()
        down.removeAddresses(of: "docker0")
        down.setBridgeDown()
        #expect(down.findings(of: rule).isEmpty)
    }
}
