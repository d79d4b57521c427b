/// What one published port lost from one ingress interface for one kernel reason, over an interval: the
/// sentence "37 packets from 5 clients to 10001/tcp were dropped on eth0 (IP_INADDRERRORS)" as a value.
public struct DropObservation: Codable, Sendable, Equatable {
    /// The published port, as operators write it: "10001/tcp".
    public var port: String
    /// The interface the packets arrived on: "eth0" ("ifindex 7" when the interface is gone).
    public var ingress: String
    /// The kernel's drop reason, without `SKB_DROP_REASON_`: "IP_INADDRERRORS".
    public var reason: String
    /// Packets dropped.
    public var count: UInt64
    /// The clients seen sending them (at most `DropCount.maximumClients`), sorted.
    public var clients: [String]
    /// Where the DNAT sends the port's clients: "172.17.0.2:80" (several for a balanced port).
    public var targets: [String]
    /// The interval the count covers.
    public var seconds: Double
    /// Unix time of the newest sampled drop.
    public var lastSeen: Double?

    public init(
        port: String, ingress: String, reason: String, count: UInt64, clients: [String], targets: [String],
        seconds: Double, lastSeen: Double? = nil
    ) {
        self.port = port
        self.ingress = ingress
        self.reason = reason
        self.count = count
        self.clients = clients
        self.targets = targets
        self.seconds = seconds
        self.lastSeen = lastSeen
    }

    /// Packets per second over the interval (0 when the interval is unknown).
    public var perSecond: Double { seconds > 0 ? Double(count) / seconds : 0 }
}

/// Maps the probe's flows to published ports: the destination the client asked for (conntrack's original
/// tuple: a host address and the published port) or, for a packet without a connection, the destination in
/// its header, which after DNAT is the target (the container's address and port). A flow that is neither
/// goes to a port nobody publishes and is left out: it never becomes a finding. Pure.
public enum DropAttribution {
    /// The drops of `host.snapshot.drops` that hit published ports, one per (port, ingress, reason), ordered
    /// by port, ingress and reason; empty when the drops were not read or nothing was dropped.
    public static func observations(_ host: HostView) -> [DropObservation] {
        guard let reading = host.snapshot.drops, !reading.counts.isEmpty, !host.publishedPorts.isEmpty else { return [] }
        let index = PortIndex(host.publishedPorts)
        struct Key: Hashable {
            var port: String
            var ingress: String
            var reason: String
        }
        var merged: [Key: DropObservation] = [:]
        var order: [Key] = []
        for count in reading.counts {
            let ports = index.ports(for: count.flow, localAddresses: host.localAddresses)
            guard let first = ports.first else { continue }
            let ingress = host.name(of: count.flow.ingressIndex) ?? "ifindex \(count.flow.ingressIndex)"
            let key = Key(port: first.subject, ingress: ingress, reason: count.flow.reason)
            let targets = ports.filter { $0.subject == first.subject }.map(\.destination)
            guard var observation = merged[key] else {
                merged[key] = DropObservation(
                    port: key.port, ingress: ingress, reason: key.reason, count: count.packets, clients: count.clients,
                    targets: unique(targets), seconds: reading.seconds, lastSeen: count.lastSeen)
                order.append(key)
                continue
            }
            observation.count += count.packets
            for client in count.clients
            where !observation.clients.contains(client) && observation.clients.count < DropCount.maximumClients {
                observation.clients.append(client)
            }
            observation.clients.sort(by: DropCount.addressOrder)
            observation.targets = unique(observation.targets + targets)
            if let seen = count.lastSeen { observation.lastSeen = max(observation.lastSeen ?? seen, seen) }
            merged[key] = observation
        }
        return order.compactMap { merged[$0] }.sorted {
            ($0.port, $0.ingress, $0.reason) < ($1.port, $1.ingress, $1.reason)
        }
    }

    static func unique(_ values: [String]) -> [String] {
        values.reduce(into: []) { result, value in if !result.contains(value) { result.append(value) } }
    }

    /// The published ports by what a dropped packet can show of them: "tcp 10001" for the host port (ranges
    /// of up to 4096 ports expanded, longer ones scanned) and "tcp 172.17.0.2:80" for the target.
    struct PortIndex {
        let ports: [PublishedPort]
        var byHostPort: [String: [Int]] = [:]
        var wideRanges: [Int] = []
        var byTarget: [String: [Int]] = [:]

        init(_ ports: [PublishedPort]) {
            self.ports = ports
            for (position, port) in ports.enumerated() {
                let range = port.hostPorts
                if Int(range.last) - Int(range.first) < 4096 {
                    for number in range.first...range.last {
                        byHostPort["\(port.transport) \(number)", default: []].append(position)
                    }
                } else {
                    wideRanges.append(position)
                }
                if port.targetPort != nil || range.first == range.last {
                    byTarget["\(port.transport) \(port.target):\(port.destinationPort)", default: []].append(position)
                } else {
                    // A range DNATed without a port keeps each port: index the target per port.
                    if Int(range.last) - Int(range.first) < 4096 {
                        for number in range.first...range.last {
                            byTarget["\(port.transport) \(port.target):\(number)", default: []].append(position)
                        }
                    }
                }
            }
        }

        /// The ports a flow's destination belongs to; empty for a port nobody publishes.
        func ports(for flow: DropFlow, localAddresses: Set<UInt32>) -> [PublishedPort] {
            var found: [Int] = []
            // The port the client asked for, on an address the port listens on.
            if let address = IPv4Address(flow.destination) {
                let candidates =
                    (byHostPort["\(flow.transport) \(flow.destinationPort)"] ?? [])
                    + wideRanges.filter { ports[$0].transport == flow.transport && ports[$0].hostPorts.contains(flow.destinationPort) }
                for position in candidates where listens(ports[position], on: address, localAddresses: localAddresses) {
                    found.append(position)
                }
            }
            // A packet without a connection, already DNATed: its header shows the target.
            if found.isEmpty, !flow.beforeDNAT {
                found = byTarget["\(flow.transport) \(flow.destination):\(flow.destinationPort)"] ?? []
            }
            return found.map { ports[$0] }
        }

        private func listens(_ port: PublishedPort, on address: IPv4Address, localAddresses: Set<UInt32>) -> Bool {
            if let listen = port.listen {
                return listen.contains { IPv4Prefix($0)?.contains(address) ?? false }
            }
            return localAddresses.contains(address.value)
        }
    }
}

/// What the kernel's drop reasons mean for a forwarded packet, in a phrase: the kernel's names come from its
/// BTF at run time, these are fwdwatch's words for the ones that matter (others are shown by name only).
public enum DropReasonText {
    public static func phrase(_ reason: String) -> String? {
        switch reason {
        case "IP_INADDRERRORS": "the ingress does not forward (forwarding=0) or the destination is invalid"
        case "IP_RPFILTER": "strict reverse-path filter: the reply would leave by another interface"
        case "NETFILTER_DROP": "a firewall rule dropped it"
        case "NEIGH_FAILED": "the next hop does not answer ARP"
        case "NEIGH_CREATEFAIL", "NEIGH_QUEUEFULL", "NEIGH_DEAD": "the next hop could not be resolved"
        case "NO_SOCKET": "nothing listens on the port and no DNAT rewrote it"
        case "IP_INNOROUTES": "no route to the destination"
        case "IP_OUTNOROUTES": "no route out"
        case "IP_INVALID_SOURCE", "IP_LOCAL_SOURCE", "IP_LOCALNET": "its source address is not allowed on the ingress"
        case "IP_INVALID_DEST": "its destination address is not allowed"
        case "BRIDGE_INGRESS_STP_STATE": "the bridge port is not forwarding (STP)"
        default: nil
        }
    }

    /// "IP_INADDRERRORS: the ingress does not forward ..." or the bare name.
    public static func describe(_ reason: String) -> String {
        phrase(reason).map { "\(reason): \($0)" } ?? reason
    }
}

extension HostView {
    /// The drops of published ports as evidence for a finding about them (`FWDWATCH_DROPS`,
    /// `FWDWATCH_DROP_REASON`, `FWDWATCH_DROP_CLIENTS`): those of `ports` (subjects such as "10001/tcp"; nil:
    /// any) arriving on `ingress` (nil: any). Empty when the drops were not read or none match.
    public func dropObservationEvidence(ports: [String]? = nil, ingress: String? = nil) -> [Evidence] {
        let matching = DropAttribution.observations(self).filter { observation in
            (ports.map { $0.contains(observation.port) } ?? true) && (ingress.map { $0 == observation.ingress } ?? true)
        }
        return DropObservation.evidence(matching)
    }
}

extension DropObservation {
    /// The journal fields of a set of observations: drops (packets), drop_reason, drop_clients,
    /// drops_per_second and drop_seconds; empty for none.
    public static func evidence(_ observations: [DropObservation]) -> [Evidence] {
        guard !observations.isEmpty else { return [] }
        let count = observations.reduce(0) { $0 + $1.count }
        let seconds = observations.map(\.seconds).max() ?? 0
        var clients: [String] = []
        for observation in observations {
            for client in observation.clients where !clients.contains(client) { clients.append(client) }
        }
        return [
            Evidence("drops", String(count)),
            Evidence("drop_reason", DropAttribution.unique(observations.map(\.reason)).joined(separator: ",")),
            Evidence("drop_clients", clients.sorted(by: DropCount.addressOrder).joined(separator: ",")),
            Evidence("drops_per_second", formatRate(seconds > 0 ? Double(count) / seconds : 0)),
            Evidence("drop_seconds", formatRate(seconds)),
        ]
    }
}
