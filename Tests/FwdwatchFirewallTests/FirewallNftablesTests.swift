import Foundation
import FwdwatchCore
import Testing

@testable import FwdwatchFirewall

@Suite("nft -j list ruleset parser")
struct FirewallNftablesTests {
    @Test("Docker's rules as a native table: forward chain policy drop, jumps, accept for the container port")
    func dockerBridgesFilter() throws {
        let state = NftablesRulesetParser.parse(try firewallFixture("nft-docker-bridges.json"))
        #expect(state.problems == [])
        #expect(state.tables.map(\.id) == [TableID(backend: .nftables, family: .ip, name: "docker-bridges")])
        let table = try #require(state.tables.first)
        #expect(table.chainOrder == [
            "filter-FORWARD", "DOCKER-USER", "DOCKER", "nat-PREROUTING", "nat-OUTPUT", "nat-POSTROUTING", "nat-DOCKER",
        ])
        let forward = try #require(table.chains["filter-FORWARD"])
        #expect(forward.base == BaseChain(type: .filter, hook: .forward, priority: 0, policy: .drop))
        #expect(state.forwardPolicy == .drop)
        #expect(state.baseChains(hook: .forward).map(\.chain.name) == ["filter-FORWARD"])
        try #require(forward.rules.count == 5)
        #expect(forward.rules.map(\.target) == [
            .jump(chain: "DOCKER-USER"), .accept, .jump(chain: "DOCKER"), .accept, .accept,
        ])
        #expect(forward.rules[1].match == RuleMatch(
            outInterface: InterfaceMatch("docker0"), connectionStates: ConnectionStateMatch(["ESTABLISHED", "RELATED"])))
        #expect(table.chains["DOCKER-USER"]?.rules == [])
        #expect(table.chains["DOCKER"]?.rules.first == FirewallRule(
            match: RuleMatch(
                inInterface: InterfaceMatch("docker0", negated: true), outInterface: InterfaceMatch("docker0"),
                destination: AddressMatch("172.17.0.2/32"), protocolName: ProtocolMatch("tcp"),
                destinationPorts: PortMatch([PortRange(80)])),
            target: .accept, counters: Counters(packets: 0, bytes: 0), origin: RuleOrigin(handle: 13)))
        #expect(table.chains["DOCKER"]?.rules.last?.target == .drop)
    }

    @Test("Docker's rules as a native table: DNAT with its counters, masquerade, fib daddr type local")
    func dockerBridgesNat() throws {
        let state = NftablesRulesetParser.parse(try firewallFixture("nft-docker-bridges.json"))
        let table = try #require(state.tables.first)
        #expect(table.chains["nat-PREROUTING"]?.base == BaseChain(type: .nat, hook: .prerouting, priority: -100, policy: .accept))
        #expect(table.chains["nat-PREROUTING"]?.rules.first?.match == RuleMatch(
            destinationAddressType: AddressTypeMatch(["LOCAL"])))
        #expect(table.chains["nat-OUTPUT"]?.rules.first?.match == RuleMatch(
            destination: AddressMatch("127.0.0.0/8", negated: true), destinationAddressType: AddressTypeMatch(["LOCAL"])))
        let id = TableID(backend: .nftables, family: .ip, name: "docker-bridges")
        #expect(state.natRules == [
            LocatedRule(
                table: id, chain: "nat-POSTROUTING", position: 1,
                rule: FirewallRule(
                    match: RuleMatch(
                        outInterface: InterfaceMatch("docker0", negated: true), source: AddressMatch("172.17.0.0/16")),
                    target: .masquerade(ports: nil), counters: Counters(packets: 0, bytes: 0),
                    origin: RuleOrigin(handle: 17))),
            LocatedRule(
                table: id, chain: "nat-DOCKER", position: 2,
                rule: FirewallRule(
                    match: RuleMatch(
                        inInterface: InterfaceMatch("docker0", negated: true), protocolName: ProtocolMatch("tcp"),
                        destinationPorts: PortMatch([PortRange(10001)])),
                    target: .dnat(to: NATAddress(address: "172.17.0.2", ports: PortRange(80))),
                    counters: Counters(packets: 2, bytes: 120), origin: RuleOrigin(handle: 19))),
        ])
    }

    @Test("sets, wildcards, ranges, named sets, snat, goto, reject, a verdict map")
    func edgeCases() throws {
        let state = NftablesRulesetParser.parse(try firewallFixture("nft-edge-cases.json"))
        #expect(state.problems == [])
        let table = try #require(state.table(.inet, "fwt-edge"))
        var forward = try #require(table.chains["forward"])
        #expect(forward.base == BaseChain(type: .filter, hook: .forward, priority: 10, policy: .accept))
        try #require(forward.rules.map(\.origin.handle) == [6, 7, 10, 11, 12, 14, 14, 15, 16])
        // nft lists the map's elements sorted: eth8 first.
        #expect(forward.rules[5].match == RuleMatch(inInterface: InterfaceMatch("eth8")))
        #expect(forward.rules[5].target == .accept)
        #expect(forward.rules[6].match == RuleMatch(inInterface: InterfaceMatch("eth9")))
        #expect(forward.rules[6].target == .drop)
        forward.rules.removeSubrange(5...6)
        #expect(forward.rules[0].match == RuleMatch(connectionStates: ConnectionStateMatch(["INVALID"])))
        #expect(forward.rules[1].match == RuleMatch(source: AddressMatch("198.51.100.7/32")))
        #expect(forward.rules[2].match == RuleMatch(
            inInterface: InterfaceMatch(["eth0", "eth1"]), protocolName: ProtocolMatch("tcp"),
            destinationPorts: PortMatch([PortRange(8080), PortRange(8443)])))
        #expect(forward.rules[3].match == RuleMatch(
            inInterface: InterfaceMatch("wg+"), destination: AddressMatch("10.88.0.0/16"),
            protocolName: ProtocolMatch("udp"), destinationPorts: PortMatch([PortRange(5000, 5100)])))
        #expect(forward.rules[3].match.inInterface?.matches("wg0") == true)
        #expect(forward.rules[4].match.protocolName == ProtocolMatch("icmp"))
        #expect(forward.rules[4].match.otherConditions.count == 1)
        #expect(forward.rules[4].match.otherConditions.first?.hasPrefix("limit ") == true)
        #expect(forward.rules[4].counters == nil)
        #expect(forward.rules[5].target == .reject(with: "tcp reset"))
        #expect(forward.rules[6].target == .goto(chain: "podman-forward"))
        #expect(table.chains["podman-forward"]?.rules.map(\.target) == [.accept, .return])
        try #require(state.natRules.count == 3)
        #expect(state.natRules.map(\.rule.target) == [
            .snat(to: NATAddress(address: "192.0.2.10")),
            .dnat(to: NATAddress(address: "10.88.0.5", ports: PortRange(80))),
            .dnat(to: NATAddress(address: "10.88.0.6")),
        ])
        #expect(state.natRules[0].rule.match == RuleMatch(
            source: AddressMatch("10.88.0.0/16"), destination: AddressMatch("10.88.0.0/16", negated: true)))
        #expect(state.natRules[2].rule.match.destinationPorts == PortMatch([PortRange(9000, 9010)]))
    }

    @Test("verdict maps become one rule per element: by interface, a concatenation, a named map")
    func verdictMaps() throws {
        let state = NftablesRulesetParser.parse(try firewallFixture("nft-vmaps.json"))
        #expect(state.problems == [])
        let table = try #require(state.table(.inet, "fwt-vmaps"))
        let forward = try #require(table.chains["forward"])
        #expect(forward.rules.map(\.target) == [
            .accept, .jump(chain: "from-eth0"), .accept, .drop, .drop, .accept,
        ])
        #expect(forward.rules[1].match == RuleMatch(inInterface: InterfaceMatch("eth0")))
        #expect(forward.rules[1].origin.text == "vmap element \"eth0\" : jump")
        #expect(forward.rules[3].match == RuleMatch(
            destination: AddressMatch("172.17.0.3/32"), protocolName: ProtocolMatch("tcp"),
            destinationPorts: PortMatch([PortRange(443)])))
        #expect(forward.rules[4].match == RuleMatch(
            outInterface: InterfaceMatch("docker0"), protocolName: ProtocolMatch("tcp"),
            destinationPorts: PortMatch([PortRange(22)])))
        #expect(forward.rules[5].match.destinationPorts == PortMatch([PortRange(8080)]))
        #expect(table.chains["to-docker"]?.rules.map(\.target) == [.accept, .drop])
    }

    @Test("iptables-nft's tables are left to iptables-save; read anyway they show their xt expressions as problems")
    func iptablesNFTTables() throws {
        let json = try firewallFixture("nft-with-iptables-nft.json")
        let native = NftablesRulesetParser.parse(json, excluding: ["ip filter", "ip nat"])
        #expect(native.problems == [])
        #expect(native.tables.map(\.name) == ["docker-bridges"])

        let everything = NftablesRulesetParser.parse(json)
        #expect(everything.tables.map(\.name) == ["filter", "nat", "docker-bridges"])
        #expect(everything.problems.count == 6, "\(everything.problems)")
        #expect(everything.problems.allSatisfy { $0.contains("unmodelled expression xt") })
    }

    @Test("malformed documents and expressions are problems, never crashes")
    func malformed() throws {
        #expect(NftablesRulesetParser.parse("not json").problems.first?.contains("not JSON") == true)
        #expect(NftablesRulesetParser.parse("{\"other\": []}").problems.first?.contains("no \"nftables\" array") == true)
        let json = """
            {"nftables": [
              {"table": {"family": "ip", "name": "t", "handle": 1}},
              {"table": {"family": "ip6", "name": "v6only", "handle": 2}},
              {"chain": {"family": "ip", "table": "t", "name": "fw", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
              {"chain": {"family": "ip", "table": "t", "name": "odd", "handle": 2, "type": "filter", "hook": "egress", "prio": 0}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"accept": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 4, "expr": [{"frobnicate": {}}, {"accept": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "missing", "handle": 5, "expr": [{"accept": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 6}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@nosuchset"}}, {"drop": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 8, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 70000}}, {"drop": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 9, "expr": [{"dnat": {"addr": "fe80::1"}}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 10, "expr": [{"accept": null}, {"drop": null}]}},
              {"rule": {"family": "ip6", "table": "v6only", "chain": "x", "handle": 11, "expr": [{"accept": null}]}},
              {"rule": {"family": "ip", "table": "t", "chain": "fw", "handle": 12, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}}, {"drop": null}]}}
            ]}
            """
        let state = NftablesRulesetParser.parse(json)
        #expect(state.tables.map(\.name) == ["t"], "ip6 tables are not read")
        let chains = try #require(state.tables.first?.chains)
        #expect(chains["odd"]?.base == nil)
        #expect(chains["fw"]?.rules.map(\.origin.handle) == [3, 12])
        #expect(chains["fw"]?.rules.last?.match.otherConditions == [#"{"meta":{"key":"mark"}} == 1"#])
        let handles = state.problems.map { problem in
            problem.range(of: "handle ").map { Int(problem[$0.upperBound...].prefix { $0.isNumber }) ?? -1 } ?? 0
        }
        #expect(handles == [0, 4, 5, 6, 7, 8, 9, 10], "\(state.problems.joined(separator: "\n"))")

        let full = try firewallFixture("nft-edge-cases.json")
        for length in stride(from: 0, to: full.count, by: 7) {
            let cut = NftablesRulesetParser.parse(String(full.prefix(length)))
            #expect(cut.tables.isEmpty && cut.problems.count == 1)
        }
    }
}

@Suite("Firewall model")
struct FirewallModelTests {
    @Test("interface, address and port conditions with wildcards and negation")
    func conditions() throws {
        #expect(InterfaceMatch("docker0", negated: true).matches("eth0"))
        #expect(!InterfaceMatch("docker0", negated: true).matches("docker0"))
        #expect(InterfaceMatch("veth+").matches("veth0ee43ed"))
        #expect(!InterfaceMatch("veth+").matches("vet"))
        #expect(InterfaceMatch(["eth0", "br+"]).matches("br-1"))
        let address = try #require(IPv4Address("172.17.0.2"))
        #expect(AddressMatch("172.17.0.0/16").matches(address) == true)
        #expect(AddressMatch("127.0.0.0/8", negated: true).matches(address) == true)
        #expect(AddressMatch("172.17.0.3/32").matches(address) == false)
        #expect(AddressMatch("not-an-address").matches(address) == nil)
        #expect(PortMatch([PortRange(8000, 8080)]).matches(8080))
        #expect(!PortMatch([PortRange(8000, 8080)], negated: true).matches(8000))
    }

    @Test("base chains on a hook are ordered by priority across tables; any drop policy makes forward drop")
    func hookOrder() {
        let legacy = FirewallTable(
            backend: .iptablesLegacy, family: .ip, name: "filter",
            chains: [FirewallChain(name: "FORWARD", base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .accept))])
        let native = FirewallTable(
            backend: .nftables, family: .inet, name: "fw",
            chains: [
                FirewallChain(name: "late", base: BaseChain(type: .filter, hook: .forward, priority: 10, policy: .drop)),
                FirewallChain(name: "early", base: BaseChain(type: .filter, hook: .forward, priority: -5, policy: .accept)),
                FirewallChain(name: "user"),
            ])
        let state = FirewallState(tables: [legacy, native])
        #expect(state.baseChains(hook: .forward).map { "\($0.table.name)/\($0.chain.name)" } == ["fw/early", "filter/FORWARD", "fw/late"])
        #expect(state.forwardPolicy == .drop)
        #expect(FirewallState(tables: [legacy]).forwardPolicy == .accept)
        #expect(FirewallState().forwardPolicy == nil)
        #expect(state.backends == [.iptablesLegacy, .nftables])
    }
}
