@testable import FwdwatchCore

/// A healthy Docker host, built in code, with mutating helpers that break it one way at a time:
///
///     var host = DockerHost()
///     host.setForwarding("eth0", 0)
///     let findings = host.findings(of: InterfaceForwardingDisabled())
///
/// Healthy means: `lo`; uplink `eth0` 192.0.2.10/24 (default route via 192.0.2.1); bridge `docker0`
/// 172.17.0.1/16 with its prefix route and one container port `veth1` in STP forwarding state;
/// forwarding=1 and rp_filter=2 everywhere; bridge-nf-call-iptables=1; conntrack 100 of 262144.
struct DockerHost {
    var snapshot: Snapshot

    init() {
        snapshot = Snapshot(
            hostname: "docker-host",
            links: [
                Link(index: 1, name: "lo", operState: "unknown", loopback: true, mtu: 65536),
                Link(index: 2, name: "eth0"),
                Link(index: 3, name: "docker0", kind: "bridge"),
                Link(index: 4, name: "veth1", kind: "veth", master: 3, bridgePortState: .forwarding),
            ],
            addresses: [
                Address(interfaceIndex: 1, address: "127.0.0.1", prefixLength: 8),
                Address(interfaceIndex: 2, address: "192.0.2.10", prefixLength: 24),
                Address(interfaceIndex: 3, address: "172.17.0.1", prefixLength: 16),
            ],
            routes: [
                Route(destination: "0.0.0.0/0", gateway: "192.0.2.1", outputInterface: 2),
                Route(destination: "192.0.2.0/24", outputInterface: 2),
                Route(destination: "172.17.0.0/16", outputInterface: 3),
                Route(destination: "172.17.0.1", outputInterface: 3, type: "local", table: Route.localTable),
            ],
            ipv4Conf: Dictionary(
                uniqueKeysWithValues: ["all", "default", "lo", "eth0", "docker0", "veth1"].map {
                    ($0, InterfaceConf(forwarding: 1, rpFilter: 2))
                }),
            ipv6Forwarding: ["all": 0, "default": 0],
            bridgeNetfilter: BridgeNetfilter(callIptables: 1, callIp6tables: 1, callArptables: 0),
            conntrack: Conntrack(count: 100, max: 262_144),
            ipCounters: ["InReceives": 100_000, "InAddrErrors": 0, "ForwDatagrams": 52_000]
        )
    }

    // MARK: Evaluating

    func view(_ settings: Settings = .defaults) -> HostView { HostView(snapshot, settings: settings) }

    /// What one rule finds on this host, without the evaluator's filtering.
    func findings(of rule: some Rule, settings: Settings = .defaults) -> [Finding] {
        rule.evaluate(view(settings))
    }

    func evaluate(_ settings: Settings = .defaults) -> Evaluation {
        Evaluator(settings: settings).evaluate(snapshot)
    }

    // MARK: Looking up

    func index(of name: String) -> Int32 {
        guard let link = snapshot.links.first(where: { $0.name == name }) else {
            preconditionFailure("DockerHost has no link named \(name)")
        }
        return link.index
    }

    func link(_ name: String) -> Link? { snapshot.links.first { $0.name == name } }

    private var nextIndex: Int32 { (snapshot.links.map(\.index).max() ?? 0) + 1 }

    // MARK: Sysctls

    /// Sets `net.ipv4.conf.<name>.forwarding` for one entry only, as a per-interface writer
    /// (networkd, udev, ifupdown) does.
    mutating func setForwarding(_ name: String, _ value: Int?) {
        snapshot.ipv4Conf[name, default: InterfaceConf()].forwarding = value
    }

    /// Writes `net.ipv4.ip_forward` the way the kernel applies it: to `all`, `default` and every interface.
    mutating func setIPForward(_ value: Int) {
        for name in snapshot.ipv4Conf.keys { snapshot.ipv4Conf[name]?.forwarding = value }
    }

    mutating func setRPFilter(_ name: String, _ value: Int?) {
        snapshot.ipv4Conf[name, default: InterfaceConf()].rpFilter = value
    }

    // MARK: Links

    mutating func modifyLink(_ name: String, _ change: (inout Link) -> Void) {
        guard let position = snapshot.links.firstIndex(where: { $0.name == name }) else {
            preconditionFailure("DockerHost has no link named \(name)")
        }
        change(&snapshot.links[position])
    }

    /// Takes a bridge down as `ip link set dev <bridge> down` does: no carrier, its routes gone,
    /// its ports disabled.
    mutating func setBridgeDown(_ bridge: String = "docker0") {
        let index = index(of: bridge)
        modifyLink(bridge) {
            $0.adminUp = false
            $0.operState = "down"
            $0.carrier = false
        }
        snapshot.routes.removeAll { $0.outputInterface == index }
        for port in snapshot.links where port.master == index {
            modifyLink(port.name) { $0.bridgePortState = .disabled }
        }
    }

    /// Stops every container on a bridge: its ports vanish and the empty bridge loses its carrier,
    /// as docker0 does on a host with no running container.
    mutating func removePorts(of bridge: String = "docker0") {
        let index = index(of: bridge)
        let ports = Set(snapshot.links.filter { $0.master == index }.map(\.name))
        snapshot.links.removeAll { ports.contains($0.name) }
        for port in ports { snapshot.ipv4Conf[port] = nil }
        modifyLink(bridge) {
            $0.operState = "down"
            $0.carrier = false
        }
    }

    /// Attaches a container's veth to a bridge.
    mutating func addPort(_ name: String, to bridge: String = "docker0", state: BridgePortState = .forwarding) {
        snapshot.links.append(
            Link(index: nextIndex, name: name, kind: "veth", master: index(of: bridge), bridgePortState: state))
        snapshot.ipv4Conf[name] = InterfaceConf(forwarding: 1, rpFilter: 2)
    }

    mutating func setPortState(_ port: String, _ state: BridgePortState?) {
        modifyLink(port) { $0.bridgePortState = state }
    }

    /// Adds an up interface with an address, its prefix route, and forwarding=1, rp_filter=2.
    mutating func addInterface(_ name: String, kind: String? = nil, address: String, prefixLength: Int) {
        let index = nextIndex
        snapshot.links.append(Link(index: index, name: name, kind: kind))
        snapshot.addresses.append(Address(interfaceIndex: index, address: address, prefixLength: prefixLength))
        if let prefix = IPv4Prefix("\(address)/\(prefixLength)") {
            snapshot.routes.append(Route(destination: prefix.description, outputInterface: index))
        }
        snapshot.ipv4Conf[name] = InterfaceConf(forwarding: 1, rpFilter: 2)
    }

    /// Adds a user-defined Docker network: an up bridge with its address, prefix route and ports.
    mutating func addBridge(_ name: String, address: String, prefixLength: Int, ports: [String]) {
        addInterface(name, kind: "bridge", address: address, prefixLength: prefixLength)
        for port in ports { addPort(port, to: name) }
        if ports.isEmpty { modifyLink(name) { $0.carrier = false; $0.operState = "down" } }
    }

    mutating func removeAddresses(of name: String) {
        let index = index(of: name)
        snapshot.addresses.removeAll { $0.interfaceIndex == index }
    }

    // MARK: Routes

    mutating func addRoute(
        _ destination: String, via gateway: String? = nil, dev device: String? = nil, metric: UInt32 = 0,
        type: String = "unicast", table: UInt32 = Route.mainTable
    ) {
        snapshot.routes.append(
            Route(
                destination: destination, gateway: gateway, outputInterface: device.map { index(of: $0) },
                metric: metric, type: type, table: table))
    }

    mutating func removeRoutes(_ destination: String) {
        snapshot.routes.removeAll { $0.destination == destination }
    }

    mutating func setMetric(_ destination: String, dev device: String, _ metric: UInt32) {
        let index = index(of: device)
        for position in snapshot.routes.indices
        where snapshot.routes[position].destination == destination
            && snapshot.routes[position].outputInterface == index
        {
            snapshot.routes[position].metric = metric
        }
    }

    // MARK: Counters

    /// Records the growth of the drop counters over a sampling interval.
    mutating func recordDrops(inAddrErrors: UInt64, forwDatagrams: UInt64 = 0, seconds: Double = 10) {
        snapshot.dropSample = DropSample(seconds: seconds, inAddrErrors: inAddrErrors, forwDatagrams: forwDatagrams)
    }

    mutating func setConntrack(count: UInt64, max: UInt64) {
        snapshot.conntrack = Conntrack(count: count, max: max)
    }
}
