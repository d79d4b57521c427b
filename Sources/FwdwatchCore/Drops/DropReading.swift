/// What the kernel dropped, as the drop probe (a BPF program on `skb:kfree_skb`, see FwdwatchDrops) counted
/// it: IPv4 TCP/UDP packets freed with a forwarding-related drop reason in fwdwatch's own network namespace.
///
/// Plain values: the probe reads the kernel's counters, `DropReading.growth` turns two readings into the
/// packets of an interval, the daemon's `DropWindow` keeps the last minute, and `DropAttribution` maps the
/// destinations to published ports.
public struct DropReading: Codable, Sendable, Equatable {
    /// The interval the counts cover.
    public var seconds: Double
    /// Packets dropped in the interval, by flow; flows that dropped nothing are left out.
    public var counts: [DropCount]
    /// Drops seen but not counted because the kernel's table of flows was full.
    public var uncounted: UInt64

    public init(seconds: Double, counts: [DropCount] = [], uncounted: UInt64 = 0) {
        self.seconds = seconds
        self.counts = counts
        self.uncounted = uncounted
    }

    /// The packets of all flows.
    public var packets: UInt64 { counts.reduce(0) { $0 + $1.packets } }

    /// The growth between two readings of the kernel's counters (`before` empty: since the program was
    /// attached), with the clients of each flow from `samples` (the probe's ring of recent drops). A counter
    /// that went backwards (the program was loaded again) counts from zero.
    public static func growth(
        from before: [DropFlow: UInt64], to after: [DropFlow: UInt64], samples: [DropFlowSample], seconds: Double,
        uncounted: UInt64 = 0
    ) -> DropReading {
        var clients: [DropFlow: [String]] = [:]
        var lastSeen: [DropFlow: Double] = [:]
        for sample in samples.sorted(by: { $0.time > $1.time }) {
            var known = clients[sample.flow, default: []]
            if !known.contains(sample.client), known.count < DropCount.maximumClients { known.append(sample.client) }
            clients[sample.flow] = known
            lastSeen[sample.flow] = max(lastSeen[sample.flow] ?? sample.time, sample.time)
        }
        var counts: [DropCount] = []
        for (flow, total) in after {
            let previous = before[flow] ?? 0
            let grown = total >= previous ? total - previous : total
            guard grown > 0 else { continue }
            counts.append(
                DropCount(flow: flow, packets: grown, clients: (clients[flow] ?? []).sorted(by: DropCount.addressOrder),
                    lastSeen: lastSeen[flow]))
        }
        return DropReading(seconds: seconds, counts: counts.sorted(), uncounted: uncounted)
    }
}

/// One kind of drop: where it arrived, why the kernel dropped it, and where it was going.
public struct DropFlow: Codable, Sendable, Hashable, Comparable {
    /// The interface it arrived on (an ifindex of fwdwatch's namespace).
    public var ingressIndex: Int32
    /// The kernel's `enum skb_drop_reason` name without its `SKB_DROP_REASON_` prefix: "IP_INADDRERRORS".
    public var reason: String
    /// "tcp" or "udp".
    public var transport: String
    /// "192.0.2.10": the destination the client asked for (conntrack's original tuple, before DNAT) when
    /// `beforeDNAT`, else the packet's own IP header (after any DNAT).
    public var destination: String
    public var destinationPort: UInt16
    /// The destination came from the connection's original tuple (what the client sent), not the header.
    public var beforeDNAT: Bool

    public init(
        ingressIndex: Int32, reason: String, transport: String, destination: String, destinationPort: UInt16,
        beforeDNAT: Bool
    ) {
        self.ingressIndex = ingressIndex
        self.reason = reason
        self.transport = transport
        self.destination = destination
        self.destinationPort = destinationPort
        self.beforeDNAT = beforeDNAT
    }

    public static func < (a: DropFlow, b: DropFlow) -> Bool {
        (a.ingressIndex, a.reason, a.transport, a.destination, a.destinationPort, a.beforeDNAT ? 1 : 0)
            < (b.ingressIndex, b.reason, b.transport, b.destination, b.destinationPort, b.beforeDNAT ? 1 : 0)
    }
}

/// The packets one flow lost in an interval, with the clients seen sending them.
public struct DropCount: Codable, Sendable, Equatable, Comparable {
    public var flow: DropFlow
    public var packets: UInt64
    /// Source addresses seen in the probe's recent samples (at most `maximumClients`), sorted; may be
    /// incomplete under a flood (the ring keeps the newest drops only).
    public var clients: [String]
    /// Unix time of the newest sample of this flow, when one was seen.
    public var lastSeen: Double?

    public static let maximumClients = 16

    public init(flow: DropFlow, packets: UInt64, clients: [String] = [], lastSeen: Double? = nil) {
        self.flow = flow
        self.packets = packets
        self.clients = clients
        self.lastSeen = lastSeen
    }

    public static func < (a: DropCount, b: DropCount) -> Bool { a.flow < b.flow }

    /// Numeric order for dotted quads ("192.0.2.9" before "192.0.2.10"), text order otherwise.
    static func addressOrder(_ a: String, _ b: String) -> Bool {
        switch (IPv4Address(a), IPv4Address(b)) {
        case let (x?, y?): x.value < y.value
        default: a < b
        }
    }
}

/// One recent drop the probe sampled: which flow, from which client, when (unix time).
public struct DropFlowSample: Sendable, Equatable {
    public var flow: DropFlow
    public var client: String
    public var time: Double

    public init(flow: DropFlow, client: String, time: Double) {
        self.flow = flow
        self.client = client
        self.time = time
    }
}
