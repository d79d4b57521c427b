#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FwdwatchFixtures

/// Prints a generated host for the scale benchmark (scripts/bench/scale.sh), from the same generators the
/// unit tests evaluate:
///
///     fwdwatch-fixtures rules docker-iptables 1000      # iptables-restore input
///     fwdwatch-fixtures rules kube-iptables 2000        # iptables-restore input
///     fwdwatch-fixtures rules kube-nftables 2000        # nft -f input
///     fwdwatch-fixtures topology docker 1000 NS         # `ip -batch` commands for the host's links (peers in NS)
///
/// Sizes: Docker counts published ports (one container per port); kube-proxy counts services with two
/// endpoints each, every tenth a NodePort.
enum Command {
    static func run(_ arguments: [String]) -> Int32 {
        guard arguments.count == 3 || (arguments.count == 4 && arguments[0] == "topology"), let size = Int(arguments[2]),
            size >= 0
        else {
            print("usage: fwdwatch-fixtures rules docker-iptables|kube-iptables|kube-nftables SIZE")
            print("       fwdwatch-fixtures topology docker|kube SIZE PEER_NAMESPACE")
            return 64
        }
        switch (arguments[0], arguments[1]) {
        case ("rules", "docker-iptables"):
            print(DockerRules.iptablesSave(publishedPorts: size, containers: size), terminator: "")
        case ("rules", "kube-iptables"):
            print(KubeProxyRules.iptablesSave(services: size, endpointsPerService: 2, nodePortEvery: 10), terminator: "")
        case ("rules", "kube-nftables"):
            print(KubeProxyRules.nftables(services: size, endpointsPerService: 2, nodePortEvery: 10), terminator: "")
        case ("topology", "docker"):
            print(topology(DockerRules.host(publishedPorts: size, containers: size), peer: arguments.last!))
        case ("topology", "kube"):
            print(topology(KubeProxyRules.host(services: size, endpointsPerService: 2, nodePortEvery: 10), peer: arguments.last!))
        default:
            print("unknown: \(arguments.joined(separator: " "))")
            return 64
        }
        return 0
    }

    /// The host's bridges with one port each (a veth pair whose peer is in namespace `peer`: enough for
    /// the bridge to have a port and carrier), and its routes; the uplink comes from the caller.
    static func topology(_ host: GeneratedHost, peer: String) -> String {
        var lines: [String] = []
        for bridge in host.bridges {
            lines.append("link add \(bridge.name) type bridge")
            lines.append("addr add \(bridge.address) dev \(bridge.name)")
            lines.append("link set \(bridge.name) up")
            lines.append("link add p-\(bridge.name) type veth peer name q-\(bridge.name) netns \(peer)")
            lines.append("link set p-\(bridge.name) master \(bridge.name) up")
        }
        for route in host.routes {
            lines.append("route add \(route.destination)\(route.gateway.map { " via \($0)" } ?? "") dev \(route.dev)")
        }
        return lines.joined(separator: "\n")
    }
}

exit(Command.run(Array(CommandLine.arguments.dropFirst())))
