/// The software that wrote a rule, told from its table and chain names: what an operator must use to
/// change it (a rule Docker owns is rewritten by Docker, not by hand), and the words the fixes speak.
public enum StackOwner: String, Codable, Sendable, Equatable, CaseIterable {
    case docker
    case podman = "netavark"
    case kubeProxy = "kube-proxy"
    case libvirt
    case lxc
    case incus
    case firewalld
    case ufw
    case other

    /// The owner of a rule in `chain` of `table`.
    public static func of(table: TableID, chain: String) -> StackOwner {
        if table.backend == .nftables {
            switch table.name {
            case "docker-bridges": return .docker
            case "netavark": return .podman
            case "kube-proxy": return .kubeProxy
            case "libvirt_network", "libvirt": return .libvirt
            case "lxc": return .lxc
            case "incus": return .incus
            case "firewalld", "firewalld_policy_drop": return .firewalld
            default: break
            }
        }
        // DOCKER-USER is Docker's hook for the operator's own rules: its drops are the operator's.
        if chain == "DOCKER-USER" { return .other }
        if chain == "DOCKER" || chain.hasPrefix("DOCKER-") { return .docker }
        if chain.hasPrefix("NETAVARK") { return .podman }
        if chain.hasPrefix("KUBE-") { return .kubeProxy }
        if chain.hasPrefix("LIBVIRT_") { return .libvirt }
        if chain.hasPrefix("ufw-") || chain.hasPrefix("ufw6-") { return .ufw }
        return .other
    }

    /// Whether the stack drops traffic between its own networks on purpose (a drop of its between two of
    /// the host's container bridges is isolation, not a fault).
    var isolatesItsNetworks: Bool {
        switch self {
        case .docker, .podman, .libvirt, .lxc, .incus, .kubeProxy: true
        case .firewalld, .ufw, .other: false
        }
    }

    /// How to find the workload behind a published port.
    func findWorkload(port: PublishedPort) -> String {
        let number = port.hostPorts.first
        switch self {
        case .docker: return "docker ps --filter publish=\(number)"
        case .podman: return "podman ps --filter publish=\(number)"
        case .kubeProxy: return "kubectl get svc -A | grep ':\(number)/'  # then kubectl get endpointslices for that service"
        case .incus: return "incus network forward list <network>  # the forward listening on port \(number)"
        case .libvirt, .lxc: return "virsh list --all  # the guest with \(port.target)"
        case .firewalld: return "firewall-cmd --list-forward-ports  # the forward to \(port.destination)"
        case .ufw, .other: return "iptables-save -t nat | grep -- '--dport \(number)'; nft list ruleset | grep 'dport \(number)'"
        }
    }

    /// How to make the owner write its rules again (after a flush or a lost mapping).
    func rewriteRules(port: PublishedPort) -> String {
        switch self {
        case .docker: return "docker restart <the container with \(port.target)>  # or systemctl restart docker: the engine rewrites the NAT rules of every published port"
        case .podman: return "podman restart <the container with \(port.target)>  # or: podman network reload --all"
        case .kubeProxy: return "kubectl -n kube-system rollout restart daemonset kube-proxy  # kube-proxy rewrites its rules on every sync"
        case .libvirt: return "virsh net-destroy <network> && virsh net-start <network>  # libvirt rewrites its rules"
        case .lxc: return "systemctl restart lxc-net"
        case .incus: return "systemctl reload incus  # or incus network forward edit <network> <listen address>"
        case .firewalld: return "firewall-cmd --reload"
        case .ufw: return "ufw reload"
        case .other: return "re-create the DNAT rule for \(port.subject) -> \(port.destination)"
        }
    }
}
