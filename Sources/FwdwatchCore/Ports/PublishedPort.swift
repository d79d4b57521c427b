/// A port published through DNAT (Docker's `-p 10001:80`, a NodePort, a netavark or Incus forward): what
/// a client connects to and where the host sends it.
///
/// Found by following the nat table's own flow from the prerouting hook (`PortDiscovery`): the port and
/// protocol are the conditions on the whole path that leads to the DNAT (jumps included), not only the
/// DNAT rule's own. A DNAT whose path only matches a non-local destination (a kube-proxy ClusterIP, a
/// service address) is not a port published on this host.
public struct PublishedPort: Sendable, Equatable, Codable {
    /// "tcp" or "udp".
    public var transport: String
    public var hostPorts: PortRange
    /// The DNAT target: the container's (or VM's, or pod's) address.
    public var target: String {
        didSet { targetAddress = IPv4Address(target) }
    }
    /// `target` parsed (the walks ask for it per path and per rule); nil when it is not IPv4 text.
    public private(set) var targetAddress: IPv4Address?
    /// The target port; nil when the DNAT keeps the port.
    public var targetPort: UInt16?
    /// The interfaces the DNAT rule itself names (`! -i docker0`); nil = no condition on the rule.
    public var ingress: InterfaceMatch?
    /// Where the DNAT rule is: "iptables-nft ip nat DOCKER #2".
    public var rule: String
    /// Packets the DNAT rule translated, when counters were read.
    public var translatedPackets: UInt64?
    /// The chains the nat flow passes on its way to the DNAT: "PREROUTING > DOCKER".
    public var via: String?
    /// The host addresses the port listens on, when the path restricts the destination
    /// ("192.0.2.10/32" for an Incus forward or a Kubernetes external IP); nil = every local address.
    public var listen: [String]?
    /// Which stack wrote the DNAT (Docker, kube-proxy, netavark, ...), from its table and chains.
    public var owner: StackOwner?

    public init(
        transport: String, hostPorts: PortRange, target: String, targetPort: UInt16? = nil,
        ingress: InterfaceMatch? = nil, rule: String, translatedPackets: UInt64? = nil, via: String? = nil,
        listen: [String]? = nil, owner: StackOwner? = nil
    ) {
        self.transport = transport
        self.hostPorts = hostPorts
        self.target = target
        self.targetAddress = IPv4Address(target)
        self.targetPort = targetPort
        self.ingress = ingress
        self.rule = rule
        self.translatedPackets = translatedPackets
        self.via = via
        self.listen = listen
        self.owner = owner
    }

    private enum CodingKeys: String, CodingKey {
        case transport, hostPorts, target, targetPort, ingress, rule, translatedPackets, via, listen, owner
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            transport: try container.decode(String.self, forKey: .transport),
            hostPorts: try container.decode(PortRange.self, forKey: .hostPorts),
            target: try container.decode(String.self, forKey: .target),
            targetPort: try container.decodeIfPresent(UInt16.self, forKey: .targetPort),
            ingress: try container.decodeIfPresent(InterfaceMatch.self, forKey: .ingress),
            rule: try container.decode(String.self, forKey: .rule),
            translatedPackets: try container.decodeIfPresent(UInt64.self, forKey: .translatedPackets),
            via: try container.decodeIfPresent(String.self, forKey: .via),
            listen: try container.decodeIfPresent([String].self, forKey: .listen),
            owner: try container.decodeIfPresent(StackOwner.self, forKey: .owner))
    }

    /// "10001/tcp", as operators write it.
    public var subject: String { "\(hostPorts)/\(transport)" }

    /// "172.17.0.2:80".
    public var destination: String { "\(target):\(targetPort ?? hostPorts.first)" }

    /// The port a forwarded packet carries after the DNAT.
    public var destinationPort: UInt16 { targetPort ?? hostPorts.first }
}

/// One step of a published port's path, the way the incident's admin walked it by hand.
public struct PathHop: Sendable, Equatable, Codable {
    public enum Name: String, Sendable, Codable, CaseIterable {
        /// The filter, raw and mangle chains on the prerouting hook (firewalld's panic mode, an early
        /// drop), met before the routing decision; only when such chains exist.
        case preroutingFilter = "prerouting-filter"
        case ipForwarding = "ip-forwarding"
        case ingressForwarding = "ingress-forwarding"
        case route
        case egressLink = "egress-link"
        case egressForwarding = "egress-forwarding"
        case bridgePorts = "bridge-ports"
        case forwardChain = "forward-chain"
        /// A full conntrack table drops every new connection, forwarded ones included.
        case conntrack
        case reversePathFilter = "rp-filter"
        /// The kernel's own input route lookup for a client of the ingress, forward and reply
        /// (`ip route get TARGET from CLIENT iif INGRESS`): the judge where it and the model disagree.
        case kernelRoute = "kernel-route"
        /// Whether the target answers ARP on the egress: the container's part, not the host's.
        case targetNeighbour = "target-neighbour"
    }

    public var name: Name
    /// True when the hop passes, false when it breaks the path, nil when it could not be decided.
    public var passes: Bool?
    /// What was read, in a phrase: "net.ipv4.conf.eth0.forwarding=0".
    public var detail: String
    /// The command that repairs a broken hop.
    public var fix: String?

    /// How a forward-chain hop's detail starts when the engine isolates the ingress's network on purpose.
    public static let isolatedByDesign = "isolated by design:"

    public init(name: Name, passes: Bool?, detail: String, fix: String? = nil) {
        self.name = name
        self.passes = passes
        self.detail = detail
        self.fix = fix
    }
}

/// The path of one published port from one ingress interface.
public struct PortPath: Sendable, Equatable, Codable {
    public var port: PublishedPort
    public var ingress: String
    /// The interface the target is routed out of, when there is a route.
    public var egress: String?
    /// Every hop up to and including the first broken one.
    public var hops: [PathHop]

    public var firstBroken: PathHop? { hops.first { $0.passes == false } }
    public var isBroken: Bool { firstBroken != nil }
    /// Broken at a hop of the host's own forwarding path. A target that does not answer ARP (the last
    /// hop, target-neighbour) breaks the path too, but that is the container's fault:
    /// dnat-target-not-answering reports it, not published-port-unreachable.
    public var isBrokenOnHost: Bool { firstBroken.map { $0.name != .targetNeighbour } ?? false }

    /// The forward chain drops it by the engine's design: from one of its container networks into
    /// another (see `HostView.forwardChainHop`).
    public var isIsolatedByDesign: Bool {
        hops.contains { $0.name == .forwardChain && $0.passes == nil && $0.detail.hasPrefix(PathHop.isolatedByDesign) }
    }
}
