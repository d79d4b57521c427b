import Foundation
import FwdwatchFirewall
import FwdwatchFixtures
import FwdwatchTestFixtures

@testable import FwdwatchCore

/// The healthy host of one stack fixture (`Fixtures/stacks/<stack>/`), built from its `host.json` and the
/// rules it holds, read by the real parsers. The format of `host.json` is described in
/// Fixtures/stacks/README.md.
///
///     let host = try StackHost.load("docker-20.10")
///     let snapshot = try host.snapshot(reading: host.readings[0])
///     let evaluation = Evaluator().evaluate(snapshot)
///
/// Healthy means: every link up with carrier, bridge ports forwarding, forwarding=1 everywhere, rp_filter
/// as host.json says (2 unless told), main-table routes for every address plus the default route, conntrack
/// at 100 of 262144, br_netfilter loaded (unless host.json says it is not), every guest and gateway
/// REACHABLE in the neighbour table.
struct StackHost: Sendable {
    /// The fixture folder's name: "docker-20.10".
    let name: String
    let directory: URL
    let description: HostDescription

    /// Each way the host's rules were read (a fixture may hold more than one configuration of the host).
    var readings: [HostDescription.Reading] { description.firewall }

    // MARK: Finding fixtures

    /// Tests/Fixtures/stacks, through the fixtures' bundle (`RecordedFixture`).
    static let stacksDirectory: URL = RecordedFixture.url("stacks")

    /// Every fixture folder (one with a host.json), sorted.
    static let fixtureNames: [String] = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: stacksDirectory.path)) ?? []
        return entries.filter {
            FileManager.default.fileExists(atPath: stacksDirectory.appendingPathComponent("\($0)/host.json").path)
        }.sorted()
    }()

    static func load(_ name: String) throws -> StackHost {
        let directory = stacksDirectory.appendingPathComponent(name)
        let data = try Data(contentsOf: directory.appendingPathComponent("host.json"))
        return StackHost(name: name, directory: directory, description: try JSONDecoder().decode(HostDescription.self, from: data))
    }

    // MARK: Rules

    func text(_ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    /// The rules of one reading as FirewallReader would assemble them: iptables-save parsed (nf_tables backend
    /// unless told), then the native nft tables from the JSON less the `ip` tables iptables-save listed.
    func firewall(_ reading: HostDescription.Reading) throws -> FirewallState {
        var state = FirewallState()
        if let file = reading.iptablesSave {
            let backend: FirewallBackend = reading.iptablesBackend == "legacy" ? .iptablesLegacy : .iptablesNFT
            let parsed = IptablesSaveParser.parse(Self.iptablesSavePart(of: try text(file)), backend: backend)
            state.tables += parsed.tables
            state.problems += parsed.problems
        }
        if let file = reading.nftJSON {
            let listed = Set(state.tables.filter { $0.backend == .iptablesNFT }.map { "ip \($0.name)" })
            let parsed = NftablesRulesetParser.parse(try text(file), excluding: listed)
            state.tables += parsed.tables
            state.problems += parsed.problems
        }
        return state
    }

    /// The iptables-save output only: one recording (lxc-5.0) carries `nft list ruleset`'s view of the same
    /// tables after it, from a line `# nft list ruleset` on.
    static func iptablesSavePart(of text: String) -> String {
        guard let marker = text.range(of: "\n# nft list ruleset") else { return text }
        return String(text[..<marker.lowerBound]) + "\n"
    }

    // MARK: The healthy host

    /// The healthy host with the rules of `reading`.
    func snapshot(reading: HostDescription.Reading) throws -> Snapshot {
        var snapshot = hostSnapshot()
        snapshot.firewall = try firewall(reading)
        return snapshot
    }

    /// The healthy host without rules.
    func hostSnapshot() -> Snapshot {
        HostLayout(
            hostname: name, uplinks: description.uplinks, bridges: description.bridges, guests: description.guests,
            extraRoutes: description.routes ?? [], rpFilter: description.rpFilter ?? [:],
            brNetfilter: description.brNetfilter ?? true
        ).snapshot()
    }
}

/// `host.json`: see Fixtures/stacks/README.md.
struct HostDescription: Decodable, Sendable {
    /// One way the rules were read: an iptables-save text and/or an `nft -j list ruleset` JSON.
    struct Reading: Decodable, Sendable, Hashable {
        var name: String
        var iptablesSave: String?
        /// "nft" (default) or "legacy".
        var iptablesBackend: String?
        var nftJSON: String?
    }
    struct Uplink: Decodable, Sendable, Hashable {
        var name: String
        /// "192.0.2.10/24".
        var addresses: [String]
        var gateway: String?
    }
    struct Bridge: Decodable, Sendable, Hashable {
        var name: String
        /// "172.17.0.1/16"; nil for a bridge without an address.
        var address: String?
        /// Its ports (the containers' or VMs' host-side interfaces).
        var ports: [String]
        var routeLocalnet: Int?
    }
    struct Guest: Decodable, Sendable, Hashable {
        var name: String
        var address: String
        var bridge: String
    }
    struct ExtraRoute: Decodable, Sendable, Hashable {
        var destination: String
        var gateway: String?
        var dev: String
    }
    /// A port the host really publishes: `port` ("10001/tcp") to `target` ("172.17.0.2:80"), reachable by
    /// new connections arriving on each of `ingress`.
    struct Published: Decodable, Sendable, Hashable {
        var port: String
        var target: String
        var ingress: [String]
        var note: String?
    }
    /// A DNAT that is not a published port (a ClusterIP): it must not be reported as `port` -> `target`.
    struct NotPublished: Decodable, Sendable, Hashable {
        var port: String
        var target: String
        var why: String
    }
    struct Expectations: Decodable, Sendable {
        var published: [Published]
        var notPublished: [NotPublished]?
    }

    var description: String?
    var firewall: [Reading]
    var uplinks: [Uplink]
    var bridges: [Bridge]
    var guests: [Guest]
    var routes: [ExtraRoute]?
    /// rp_filter by interface name, with "all" and "default"; an interface not named takes "default" (2).
    var rpFilter: [String: Int]?
    /// False when br_netfilter is not loaded (libvirt, lxc and Incus hosts without Docker).
    var brNetfilter: Bool?
    var expect: Expectations
}

/// Builds the Snapshot of a healthy host from its interfaces; shared by the stack fixtures.
struct HostLayout {
    var hostname: String
    var uplinks: [HostDescription.Uplink]
    var bridges: [HostDescription.Bridge]
    var guests: [HostDescription.Guest]
    var extraRoutes: [HostDescription.ExtraRoute] = []
    var rpFilter: [String: Int] = [:]
    var brNetfilter = true

    func snapshot() -> Snapshot {
        var links = [Link(index: 1, name: "lo", operState: "unknown", loopback: true, mtu: 65536)]
        var addresses = [Address(interfaceIndex: 1, address: "127.0.0.1", prefixLength: 8)]
        var routes: [Route] = []
        var indexByName: [String: Int32] = ["lo": 1]
        func add(_ link: Link) {
            links.append(link)
            indexByName[link.name] = link.index
        }
        func addAddress(_ text: String, on index: Int32) {
            let parts = text.split(separator: "/")
            guard parts.count == 2, let length = Int(parts[1]), let prefix = IPv4Prefix(text) else { return }
            let address = String(parts[0])
            addresses.append(Address(interfaceIndex: index, address: address, prefixLength: length))
            if !routes.contains(where: { $0.destination == prefix.description && $0.outputInterface == index }) {
                routes.append(Route(destination: prefix.description, outputInterface: index))
            }
            routes.append(Route(destination: address, outputInterface: index, type: "local", table: Route.localTable))
        }
        var next: Int32 = 2
        for uplink in uplinks {
            add(Link(index: next, name: uplink.name))
            for address in uplink.addresses { addAddress(address, on: next) }
            if let gateway = uplink.gateway, !routes.contains(where: { $0.destination == "0.0.0.0/0" }) {
                routes.insert(Route(destination: "0.0.0.0/0", gateway: gateway, outputInterface: next), at: 0)
            }
            next += 1
        }
        for bridge in bridges {
            let index = next
            add(Link(index: index, name: bridge.name, kind: "bridge"))
            if let address = bridge.address { addAddress(address, on: index) }
            next += 1
            for port in bridge.ports {
                add(Link(index: next, name: port, kind: "veth", master: index, bridgePortState: .forwarding))
                next += 1
            }
        }
        for route in extraRoutes {
            routes.append(Route(destination: route.destination, gateway: route.gateway, outputInterface: indexByName[route.dev]))
        }

        let defaultRP = rpFilter["default"] ?? 2
        var conf: [String: InterfaceConf] = [
            "all": InterfaceConf(forwarding: 1, rpFilter: rpFilter["all"] ?? defaultRP),
            "default": InterfaceConf(forwarding: 1, rpFilter: defaultRP),
        ]
        for link in links {
            conf[link.name] = InterfaceConf(forwarding: 1, rpFilter: rpFilter[link.name] ?? defaultRP)
        }
        for bridge in bridges where bridge.routeLocalnet != nil {
            conf[bridge.name]?.routeLocalnet = bridge.routeLocalnet
        }

        var neighbours: [Neighbour] = []
        for (number, guest) in guests.enumerated() {
            guard let index = indexByName[guest.bridge] else { continue }
            neighbours.append(
                Neighbour(interfaceIndex: index, address: guest.address, state: .reachable, linkAddress: Self.mac(number + 1)))
        }
        var gateways = uplinks.compactMap { uplink in uplink.gateway.map { (uplink.name, $0) } }
        gateways += extraRoutes.compactMap { route in route.gateway.map { (route.dev, $0) } }
        for (number, (dev, gateway)) in gateways.enumerated() {
            guard let index = indexByName[dev], !neighbours.contains(where: { $0.address == gateway }) else { continue }
            neighbours.append(
                Neighbour(interfaceIndex: index, address: gateway, state: .reachable, linkAddress: Self.mac(200 + number)))
        }

        return Snapshot(
            hostname: hostname, links: links, addresses: addresses, routes: routes, ipv4Conf: conf,
            ipv6Forwarding: ["all": 0, "default": 0],
            bridgeNetfilter: brNetfilter ? BridgeNetfilter(callIptables: 1, callIp6tables: 1, callArptables: 0) : nil,
            conntrack: Conntrack(count: 100, max: 262_144),
            ipCounters: ["InReceives": 100_000, "InAddrErrors": 0, "ForwDatagrams": 52_000],
            neighbours: neighbours)
    }

    /// A locally administered MAC address numbered `number`.
    static func mac(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        let padded = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return "02:42:ac:11:\(padded.prefix(2)):\(padded.suffix(2))"
    }
}

extension HostLayout {
    /// The healthy host a FwdwatchFixtures generator describes.
    init(_ host: GeneratedHost) {
        self.init(
            hostname: host.hostname,
            uplinks: host.uplinks.map { HostDescription.Uplink(name: $0.name, addresses: $0.addresses, gateway: $0.gateway) },
            bridges: host.bridges.map { HostDescription.Bridge(name: $0.name, address: $0.address, ports: $0.ports) },
            guests: host.guests.map { HostDescription.Guest(name: $0.name, address: $0.address, bridge: $0.bridge) },
            extraRoutes: host.routes.map { HostDescription.ExtraRoute(destination: $0.destination, gateway: $0.gateway, dev: $0.dev) })
    }
}

extension GeneratedHost {
    /// The Snapshot of this healthy host, with `firewall` as its rules.
    func snapshot(firewall: FirewallState?) -> Snapshot {
        var snapshot = HostLayout(self).snapshot()
        snapshot.firewall = firewall
        return snapshot
    }
}
