/// The healthy host a generated rule set belongs to, as plain values (no FwdwatchCore types, so the module has
/// no dependencies): a test or benchmark turns it into a `Snapshot` (Tests/FwdwatchCoreTests/Support/StackHost.swift,
/// `HostLayout`) with the same meaning as a stack fixture's host.json.
public struct GeneratedHost: Sendable, Equatable {
    /// An interface that is not a bridge: the uplink.
    public struct Uplink: Sendable, Equatable {
        public var name: String
        /// "192.0.2.10/24".
        public var addresses: [String]
        /// The default route's gateway.
        public var gateway: String?
    }

    public struct Bridge: Sendable, Equatable {
        public var name: String
        /// "172.17.0.1/16".
        public var address: String
        /// The host-side veth of every container on it.
        public var ports: [String]
    }

    /// A container or pod on a bridge of this host.
    public struct Guest: Sendable, Equatable {
        public var name: String
        public var address: String
        public var bridge: String
    }

    /// A main-table route besides the prefix routes of the addresses and the default route.
    public struct Route: Sendable, Equatable {
        public var destination: String
        public var gateway: String?
        public var dev: String
    }

    /// A port the host really publishes: "10001/tcp" to "172.17.0.2:80", from `ingress`.
    public struct PublishedPort: Sendable, Equatable {
        public var port: String
        public var target: String
        public var ingress: [String]
    }

    public var hostname: String
    public var uplinks: [Uplink]
    public var bridges: [Bridge]
    public var guests: [Guest]
    public var routes: [Route]
    /// The ports published to the outside; service addresses (ClusterIPs) are not among them.
    public var published: [PublishedPort]
}

/// Decimal text of an integer, padded with zeros to `width` (no Foundation).
func padded(_ value: Int, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, width - text.count)) + text
}

/// A deterministic upper-case base-32 tag of 16 characters, the look of kube-proxy's chain hashes.
func chainTag(_ seed: String) -> String {
    // FNV-1a, 64 bits, then 5 bits per character.
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in seed.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    var tag = ""
    for _ in 0..<16 {
        tag.append(alphabet[Int(hash & 31)])
        hash = (hash >> 5) | (hash << 59)
    }
    return tag
}
