import Foundation
import FwdwatchFixtures
import FwdwatchTestSupport

/// A generated big host (the `FwdwatchFixtures` generators the unit tests evaluate) loaded into network
/// namespaces: `host` with the uplink, bridges, routes and the rule set; `outside` with the uplink's other end
/// (at the default route's gateway) and the peer of each bridge's one port (enough for a port with carrier).
/// `delete()` (also on deinit) removes both.
final class ScaleHost {
    enum Kind: String, CaseIterable {
        case docker = "docker"
        case kubeIptables = "kube-iptables"
        case kubeNftables = "kube-nftables"

        /// What the size counts.
        var unit: String { self == .docker ? "ports" : "services" }

        func host(size: Int) -> GeneratedHost {
            switch self {
            case .docker: DockerRules.host(publishedPorts: size, containers: size)
            case .kubeIptables, .kubeNftables: KubeProxyRules.host(services: size, endpointsPerService: 2, nodePortEvery: 10)
            }
        }

        func rules(size: Int) -> String {
            switch self {
            case .docker: DockerRules.iptablesSave(publishedPorts: size, containers: size)
            case .kubeIptables: KubeProxyRules.iptablesSave(services: size, endpointsPerService: 2, nodePortEvery: 10)
            case .kubeNftables: KubeProxyRules.nftables(services: size, endpointsPerService: 2, nodePortEvery: 10)
            }
        }
    }

    let kind: Kind
    let size: Int
    let generated: GeneratedHost
    let host: NetworkNamespace
    let outside: NetworkNamespace

    init(kind: Kind, size: Int) throws {
        self.kind = kind
        self.size = size
        generated = kind.host(size: size)
        host = try NetworkNamespace(prefix: "fwb\(getpid())-host")
        do {
            outside = try NetworkNamespace(prefix: "fwb\(getpid())-out")
        } catch {
            host.delete()
            throw error
        }
        do {
            try build()
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    func delete() {
        host.delete()
        outside.delete()
    }

    private func build() throws {
        try host.setSysctl("net.ipv4.conf.all.forwarding", "1")
        try host.setSysctl("net.ipv4.conf.default.forwarding", "1")
        for (index, uplink) in generated.uplinks.enumerated() {
            let peer = "up\(index)"
            try host.addVethPair(uplink.name, peer, peerNamespace: outside)
            for address in uplink.addresses { try host.addAddress(address, to: uplink.name) }
            if let gateway = uplink.gateway, let prefix = uplink.addresses.first?.split(separator: "/").last {
                try outside.addAddress("\(gateway)/\(prefix)", to: peer)
                try host.ip(["route", "add", "default", "via", gateway, "dev", uplink.name])
            }
        }
        // The bridges, one port each with its peer outside, and the routes: one `ip -batch` each side.
        var commands: [String] = []
        var peersUp: [String] = []
        for bridge in generated.bridges {
            commands += [
                "link add \(bridge.name) type bridge", "addr add \(bridge.address) dev \(bridge.name)",
                "link set \(bridge.name) up",
                "link add p-\(bridge.name) type veth peer name q-\(bridge.name) netns \(outside.name)",
                "link set p-\(bridge.name) master \(bridge.name) up",
            ]
            peersUp.append("link set q-\(bridge.name) up")
        }
        for route in generated.routes {
            commands.append("route add \(route.destination)\(route.gateway.map { " via \($0)" } ?? "") dev \(route.dev)")
        }
        try Shell.run(["ip", "-n", host.name, "-batch", "-"], timeout: .seconds(600), input: commands.joined(separator: "\n") + "\n")
        if !peersUp.isEmpty {
            try Shell.run(["ip", "-n", outside.name, "-batch", "-"], timeout: .seconds(600), input: peersUp.joined(separator: "\n") + "\n")
        }
        let rules = kind.rules(size: size)
        switch kind {
        case .docker, .kubeIptables: try host.exec(["iptables-restore"], timeout: .seconds(600), input: rules)
        case .kubeNftables: try host.exec(["nft", "-f", "-"], timeout: .seconds(600), input: rules)
        }
    }
}
