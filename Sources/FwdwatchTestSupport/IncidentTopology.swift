import Foundation

/// The Docker host of the incident, built in three namespaces:
///
/// - `host`: uplink veth `eth0` 192.0.2.10/24 with default route via 192.0.2.1; bridge `docker0`
///   172.17.0.1/16 with one port `veth<7 hex>`; `all`, `default` and every interface have forwarding=1.
/// - `client`: the other end of the uplink, `eth0` 192.0.2.1/24, with a route to 172.17.0.0/16 via the host.
/// - `container`: the bridge port's peer, `eth0` 172.17.0.2/16, default route via 172.17.0.1.
///
/// `delete()` (also run on deinit) removes all three namespaces.
package final class IncidentTopology: @unchecked Sendable {
    package static let uplink = "eth0"
    package static let bridge = "docker0"
    package static let hostAddress = "192.0.2.10"
    package static let clientAddress = "192.0.2.1"
    package static let bridgeAddress = "172.17.0.1"
    package static let containerAddress = "172.17.0.2"
    package static let bridgeSubnet = "172.17.0.0/16"

    package let host: NetworkNamespace
    package let client: NetworkNamespace
    package let container: NetworkNamespace
    /// The host end of the container's veth, named like Docker's (`veth0ee43ed`).
    package let bridgePort: String

    package init(prefix: String = "fwt") throws {
        host = try NetworkNamespace(prefix: "\(prefix)-host")
        do {
            client = try NetworkNamespace(prefix: "\(prefix)-client")
        } catch {
            host.delete()
            throw error
        }
        do {
            container = try NetworkNamespace(prefix: "\(prefix)-ctr")
        } catch {
            host.delete()
            client.delete()
            throw error
        }
        bridgePort = "veth" + randomSuffix(length: 7)
        do {
            try build()
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    package func delete() {
        host.delete()
        client.delete()
        container.delete()
    }

    /// Every interface of the host namespace that has IPv4 sysctls, `lo` included.
    package var hostInterfaces: [String] { ["lo", Self.uplink, Self.bridge, bridgePort] }

    private func build() throws {
        let uplink = Self.uplink
        try host.addVethPair(uplink, "eth0", peerNamespace: client)
        try host.addAddress("\(Self.hostAddress)/24", to: uplink)
        try host.ip(["route", "add", "default", "via", Self.clientAddress, "dev", uplink])
        try client.addAddress("\(Self.clientAddress)/24", to: "eth0")
        try client.ip(["route", "add", Self.bridgeSubnet, "via", Self.hostAddress, "dev", "eth0"])

        try host.addBridge(name: Self.bridge, address: "\(Self.bridgeAddress)/16")
        try host.addVethPair(bridgePort, "eth0", peerNamespace: container)
        try host.attach(port: bridgePort, to: Self.bridge)
        try container.addAddress("\(Self.containerAddress)/16", to: "eth0")
        try container.ip(["route", "add", "default", "via", Self.bridgeAddress, "dev", "eth0"])

        try host.setSysctl("net.ipv4.conf.all.forwarding", "1")
        try host.setSysctl("net.ipv4.conf.default.forwarding", "1")
        for interface in hostInterfaces {
            try host.setSysctl("net.ipv4.conf.\(interface).forwarding", "1")
        }
    }
}
