import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchFirewall

/// A recorded rule set: Tests/Fixtures/firewall/NAME (see its README and record.sh).
func firewallFixture(_ name: String) throws -> String {
    try RecordedFixture.text("firewall/" + name)
}

@Suite("iptables-save parser")
struct FirewallIptablesSaveTests {
    @Test("Docker 20.10 defaults: FORWARD policy DROP and Docker's chains, kept as jumps")
    func dockerFilterTable() throws {
        let state = IptablesSaveParser.parse(try RecordedFixture.text(RecordedFixture.docker2010Rules), backend: .iptablesNFT)
        #expect(state.problems == [])
        #expect(state.tables.map(\.name) == ["filter", "nat"])
        #expect(state.backends == [.iptablesNFT])
        let filter = try #require(state.table(.ip, "filter"))
        #expect(filter.chainOrder == [
            "INPUT", "FORWARD", "OUTPUT", "DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER",
        ])
        let forward = try #require(filter.chains["FORWARD"])
        #expect(forward.base == BaseChain(type: .filter, hook: .forward, priority: 0, policy: .drop))
        #expect(forward.counters == Counters(packets: 0, bytes: 0))
        #expect(state.forwardPolicy == .drop)
        try #require(forward.rules.count == 6)
        #expect(forward.rules.map(\.target) == [
            .jump(chain: "DOCKER-USER"), .jump(chain: "DOCKER-ISOLATION-STAGE-1"), .accept, .jump(chain: "DOCKER"),
            .accept, .accept,
        ])
        #expect(forward.rules[2].match == RuleMatch(
            outInterface: InterfaceMatch("docker0"),
            connectionStates: ConnectionStateMatch(["RELATED", "ESTABLISHED"]), otherConditions: []))
        #expect(forward.rules[4].match == RuleMatch(
            inInterface: InterfaceMatch("docker0"), outInterface: InterfaceMatch("docker0", negated: true)))
        #expect(forward.rules[0].counters == nil, "no -c: no counters")
        #expect(forward.rules[0].origin == RuleOrigin(line: 9, text: "-A FORWARD -j DOCKER-USER"))

        let docker = try #require(filter.chains["DOCKER"])
        #expect(docker.base == nil)
        #expect(docker.rules == [
            FirewallRule(
                match: RuleMatch(
                    inInterface: InterfaceMatch("docker0", negated: true), outInterface: InterfaceMatch("docker0"),
                    destination: AddressMatch("172.17.0.2/32"), protocolName: ProtocolMatch("tcp"),
                    destinationPorts: PortMatch([PortRange(80)])),
                target: .accept,
                origin: RuleOrigin(
                    line: 15, text: "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"))
        ])
        #expect(filter.chains["DOCKER-USER"]?.rules.map(\.target) == [.return])
        #expect(filter.chains["DOCKER-ISOLATION-STAGE-1"]?.rules.map(\.target) == [
            .jump(chain: "DOCKER-ISOLATION-STAGE-2"), .return,
        ])
        let stage2 = try #require(filter.chains["DOCKER-ISOLATION-STAGE-2"])
        try #require(stage2.rules.count == 2)
        #expect(stage2.rules[0].match == RuleMatch(outInterface: InterfaceMatch("docker0")))
        #expect(stage2.rules[0].target == .drop)
    }

    @Test("Docker 20.10 defaults: DNAT for 10001/tcp ! -i docker0 and MASQUERADE for the bridge subnet")
    func dockerNatTable() throws {
        let state = IptablesSaveParser.parse(try RecordedFixture.text(RecordedFixture.docker2010Rules), backend: .iptablesNFT)
        let nat = try #require(state.table(.ip, "nat"))
        #expect(nat.chains["PREROUTING"]?.base == BaseChain(type: .nat, hook: .prerouting, priority: -100, policy: .accept))
        #expect(nat.chains["POSTROUTING"]?.base == BaseChain(type: .nat, hook: .postrouting, priority: 100, policy: .accept))
        #expect(nat.chains["PREROUTING"]?.rules == [
            FirewallRule(
                match: RuleMatch(destinationAddressType: AddressTypeMatch(["LOCAL"])), target: .jump(chain: "DOCKER"),
                origin: RuleOrigin(line: 28, text: "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"))
        ])
        #expect(nat.chains["OUTPUT"]?.rules.first?.match == RuleMatch(
            destination: AddressMatch("127.0.0.0/8", negated: true),
            destinationAddressType: AddressTypeMatch(["LOCAL"])))

        let tableID = TableID(backend: .iptablesNFT, family: .ip, name: "nat")
        try #require(state.natRules.map(\.chain) == ["POSTROUTING", "POSTROUTING", "DOCKER"])
        #expect(state.natRules[0].rule.match == RuleMatch(
            outInterface: InterfaceMatch("docker0", negated: true), source: AddressMatch("172.17.0.0/16")))
        #expect(state.natRules[0].rule.target == .masquerade(ports: nil))
        #expect(state.natRules[2] == LocatedRule(
            table: tableID, chain: "DOCKER", position: 2,
            rule: FirewallRule(
                match: RuleMatch(
                    inInterface: InterfaceMatch("docker0", negated: true), protocolName: ProtocolMatch("tcp"),
                    destinationPorts: PortMatch([PortRange(10001)])),
                target: .dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80))),
                origin: RuleOrigin(
                    line: 33, text: "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10001 -j DNAT --to-destination 172.17.0.2:80"))))
    }

    @Test("userland-proxy=false: DNAT on every interface, MASQUERADE of local sources to docker0")
    func userlandProxyOff() throws {
        let state = IptablesSaveParser.parse(
            try RecordedFixture.text("stacks/docker-20.10/iptables-save-userland-proxy-false.txt"), backend: .iptablesNFT)
        #expect(state.problems == [])
        let dnat = try #require(state.natRules.last)
        #expect(dnat.rule.match == RuleMatch(protocolName: ProtocolMatch("tcp"), destinationPorts: PortMatch([PortRange(10001)])))
        #expect(dnat.rule.target == .dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80))))
        let hairpin = try #require(state.natRules.first)
        #expect(hairpin.rule.match == RuleMatch(
            outInterface: InterfaceMatch("docker0"), sourceAddressType: AddressTypeMatch(["LOCAL"])))
        #expect(hairpin.rule.target == .masquerade(ports: nil))
    }

    @Test("iptables-save -c (nf_tables), recorded: counters of the rules a connection attempt hit")
    func countersNFT() throws {
        let state = IptablesSaveParser.parse(try firewallFixture("iptables-nft-save-c.txt"), backend: .iptablesNFT)
        #expect(state.problems == [])
        let dnat = try #require(state.natRules.first { if case .dnat = $0.rule.target { true } else { false } })
        #expect(dnat.rule.counters == Counters(packets: 2, bytes: 120))
        #expect(dnat.rule.origin.text == "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10001 -j DNAT --to-destination 172.17.0.2:80")
        let nat = try #require(state.table(.ip, "nat"))
        #expect(nat.chains["OUTPUT"]?.rules.first?.counters == Counters(packets: 2, bytes: 120))
        #expect(nat.chains["PREROUTING"]?.rules.first?.counters == Counters(packets: 0, bytes: 0))
        #expect(state.table(.ip, "filter")?.chains["FORWARD"]?.rules.count == 6)
    }

    @Test("iptables-legacy-save -c, recorded: same model, labelled legacy")
    func countersLegacy() throws {
        let state = IptablesSaveParser.parse(try firewallFixture("iptables-legacy-save-c.txt"), backend: .iptablesLegacy)
        #expect(state.problems == [])
        #expect(state.tables.map(\.id) == [
            TableID(backend: .iptablesLegacy, family: .ip, name: "nat"),
            TableID(backend: .iptablesLegacy, family: .ip, name: "filter"),
        ])
        #expect(state.forwardPolicy == .drop)
        let dnat = try #require(state.natRules.last)
        #expect(dnat.rule.target == .dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80))))
        #expect(dnat.rule.counters == Counters(packets: 2, bytes: 120))
    }

    @Test("modules that are not modelled become other conditions; multiport, negated ctstate, goto, targets")
    func modulesAndTargets() throws {
        let text = """
            *filter
            :FORWARD ACCEPT [5:300]
            :USER - [0:0]
            -A FORWARD -i br+ -p udp -m multiport --dports 53,8000:8080 -m conntrack ! --ctstate NEW -j ACCEPT
            -A FORWARD -m mark --mark 0x1 -m comment --comment "allow \\"marked\\" traffic" -p tcp -m tcp --dport 22 --tcp-flags SYN,RST SYN -j LOG --log-prefix "fw: "
            -A FORWARD -s 10.0.0.0/8,192.168.0.0/16 ! -p icmp -g USER
            -A FORWARD -p tcp -j REJECT --reject-with tcp-reset
            -A USER
            COMMIT
            *nat
            :POSTROUTING ACCEPT [0:0]
            :PREROUTING ACCEPT [0:0]
            -A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.10-192.0.2.12:1024-65535
            -A POSTROUTING -o eth1 -p tcp -j MASQUERADE --to-ports 2000-3000
            -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80
            -c 7 700 -A PREROUTING -p tcp -j DNAT --to-destination :8081
            -A PREROUTING -p tcp -j DNAT --to-destination 10.1.0.5 -c 3 300
            COMMIT
            """
        let state = IptablesSaveParser.parse(text, backend: .iptablesNFT)
        let forward = try #require(state.table(.ip, "filter")?.chains["FORWARD"])
        #expect(forward.counters == Counters(packets: 5, bytes: 300))
        try #require(forward.rules.count == 4)
        #expect(forward.rules[0].match == RuleMatch(
            inInterface: InterfaceMatch("br+"), protocolName: ProtocolMatch("udp"),
            destinationPorts: PortMatch([PortRange(53), PortRange(8000, 8080)]),
            connectionStates: ConnectionStateMatch(["NEW"], negated: true)))
        #expect(forward.rules[0].match.inInterface?.matches("br-1234") == true)
        #expect(forward.rules[1].match.otherConditions == ["-m mark --mark 0x1", "-m tcp --tcp-flags SYN,RST SYN"])
        #expect(forward.rules[1].match.comment == "allow \"marked\" traffic")
        #expect(forward.rules[1].match.destinationPorts == PortMatch([PortRange(22)]))
        #expect(forward.rules[1].target == .other(name: "LOG", options: "--log-prefix fw: "))
        #expect(forward.rules[2].match.source == AddressMatch(["10.0.0.0/8", "192.168.0.0/16"]))
        #expect(forward.rules[2].match.protocolName == ProtocolMatch("icmp", negated: true))
        #expect(forward.rules[2].target == .goto(chain: "USER"))
        #expect(forward.rules[3].target == .reject(with: "tcp-reset"))
        #expect(state.table(.ip, "filter")?.chains["USER"]?.rules == [FirewallRule(target: nil, origin: RuleOrigin(line: 8, text: "-A USER"))])

        #expect(state.problems.isEmpty, "\(state.problems)")
        try #require(state.natRules.count == 5)
        #expect(state.natRules.map(\.rule.target) == [
            .snat(to: NATAddress(address: "192.0.2.10", lastAddress: "192.0.2.12", ports: PortRange(1024, 65535))),
            .masquerade(ports: PortRange(2000, 3000)),
            .redirect(ports: PortRange(80)),
            .dnat(to: NATAddress(address: nil, ports: PortRange(8081))),
            .dnat(to: NATAddress(address: "10.1.0.5")),
        ])
        #expect(state.natRules[3].rule.counters == Counters(packets: 7, bytes: 700))
        #expect(state.natRules[4].rule.counters == Counters(packets: 3, bytes: 300))
    }

    @Test("malformed input: each bad line is reported with its number and skipped, good rules survive")
    func malformed() throws {
        let text = """
            -A FORWARD -j ACCEPT
            *filter
            :FORWARD DROP [0:0]
            :DOCKER - [0:0]
            :BROKEN MAYBE [0:0]
            -A FORWARD --bogus 1 -j ACCEPT
            -A FORWARD -j DOCKER
            -A NOWHERE -j ACCEPT
            -A FORWARD -i
            [1:x] -A FORWARD -j ACCEPT
            -A FORWARD -p tcp -m tcp --dport 99999 -j ACCEPT
            -A FORWARD -m comment --comment "unterminated -j ACCEPT
            this is garbage
            -A FORWARD ! ! -i eth0 -j ACCEPT
            -A FORWARD -j ACCEPT --weird
            COMMIT
            *nat
            :DOCKER - [0:0]
            -A DOCKER -p tcp -j DNAT
            -A DOCKER -p tcp -j DNAT --to-destination 172.17.0.999:80
            -A DOCKER -p tcp -j DNAT --to-destination 172.17.0.2:80
            """
        let state = IptablesSaveParser.parse(text, backend: .iptablesNFT)
        let lines = state.problems.map { problem -> Int in
            guard let range = problem.range(of: "line "), let end = problem[range.upperBound...].firstIndex(of: ":")
            else { return -1 }
            return Int(problem[range.upperBound..<end]) ?? -1
        }
        try #require(lines.count == 14, "\(state.problems.joined(separator: "\n"))")
        #expect(lines == [1, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 17], "\(state.problems.joined(separator: "\n"))")
        #expect(state.problems[1].contains("unknown policy \"MAYBE\""))
        #expect(state.problems[2].contains("unknown option \"--bogus\""))
        #expect(state.problems[3].contains("undeclared chain NOWHERE"))
        #expect(state.problems[4].contains("option -i needs a value"))
        #expect(state.problems[10].contains("options after target ACCEPT"))
        #expect(state.problems[11].contains("DNAT without --to-destination"))
        #expect(state.problems[12].contains("malformed NAT address \"172.17.0.999\""))
        #expect(state.problems[13].contains("table nat has no COMMIT"))
        #expect(state.problems.allSatisfy { $0.hasPrefix("iptables-nft iptables-save line ") })
        let filter = try #require(state.table(.ip, "filter"))
        #expect(filter.chains["FORWARD"]?.rules.map(\.target) == [.jump(chain: "DOCKER")])
        #expect(filter.chains["FORWARD"]?.base?.policy == .drop)
        #expect(state.natRules.map(\.rule.target) == [.dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80)))])
    }

    @Test("every truncation of a recorded output parses without crashing and keeps the complete lines")
    func truncations() throws {
        let text = try firewallFixture("iptables-nft-save-c.txt")
        let complete = IptablesSaveParser.parse(text, backend: .iptablesNFT)
        var checked = 0
        for length in 0...text.count {
            let prefix = String(text.prefix(length))
            let state = IptablesSaveParser.parse(prefix, backend: .iptablesNFT)
            let rules = state.tables.reduce(0) { $0 + $1.chains.values.reduce(0) { $0 + $1.rules.count } }
            let total = complete.tables.reduce(0) { $0 + $1.chains.values.reduce(0) { $0 + $1.rules.count } }
            #expect(rules <= total)
            let lines = prefix.split(separator: "\n")
            if lines.filter({ $0.hasPrefix("*") }).count > lines.filter({ $0 == "COMMIT" }).count {
                #expect(!state.problems.isEmpty, "a cut at \(length) inside a table must be reported")
            }
            checked += 1
        }
        #expect(checked == text.count + 1)
    }

    @Test("the model survives a JSON round trip")
    func codable() throws {
        let state = IptablesSaveParser.parse(try firewallFixture("iptables-nft-save-c.txt"), backend: .iptablesNFT)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(state)
        #expect(try JSONDecoder().decode(FirewallState.self, from: data) == state)
        #expect(String(decoding: data, as: UTF8.self).contains(#""dnat":{"to":{"address":"172.17.0.2""#))
    }
}
