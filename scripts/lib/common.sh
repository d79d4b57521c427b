# Sourced by the scripts under scripts/ (`source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"`): what several of
# them need, written once. Defines functions and arrays only; it changes nothing until one is called.
#
#   build_packages     what `swift build` needs: the C libraries (libnl, libsystemd, libbpf), pkg-config, and clang
#                      and bpftool for the drop probe that is compiled at build time
#   runtime_packages   what running fwdwatch reads its host with (ip, iptables, nft, systemd, ...)
#   test_packages      what the test suites drive besides: the real stacks, journald, curl, jq
#   install_missing PACKAGE...   installs with apt-get those not installed (root only; says which are missing)
#   use_swift          puts the Swift toolchain on PATH when `swift` is not there but /opt/swift is
#   docker_topology PREFIX CONTAINERS    the Docker-like host in network namespaces (see below)
#   fresh_namespace NAME                 one empty network namespace with lo up, for recording a rule set
#   delete_topology    deletes the namespaces docker_topology and fresh_namespace created
#   strip_save_dates   filters iptables-save output: its header comments without the date, so recordings diff

build_packages=(libnl-route-3-dev libsystemd-dev libbpf-dev pkg-config clang bpftool)
runtime_packages=(iproute2 iptables nftables systemd systemd-container procps man-db)
test_packages=(python3 curl jq docker.io busybox-static podman netavark lxc dnsmasq-base ufw firewalld dbus
    libvirt-daemon libvirt-clients)

# Installs the packages of "$@" that dpkg does not know as installed. Returns non-zero when some are missing and
# this is not root, or when apt-get fails; apt-get's progress goes to stderr.
install_missing() {
    local package missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# The toolchain is expected on PATH; a machine set up like this one keeps it in /opt/swift.
use_swift() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
}

# The Docker-like host of the incident, in network namespaces of its own (never the caller's):
#   $PREFIX-host    eth0 192.0.2.10/24 with the default route via 192.0.2.1; docker0 172.17.0.1/16, up, with the
#                   ports veth1..vethN (N = CONTAINERS); IPv4 forwarding on for all and default; IPv6 off
#   $PREFIX-client  the uplink's other end, eth0 192.0.2.1/24 (the host's gateway), with a route to 172.17.0.0/16
#                   via the host
#   $PREFIX-cI      container I: eth0 172.17.0.(I+1)/16, default route via 172.17.0.1
# Sets topology_host and topology_client to the two names and appends every namespace it creates to
# topology_namespaces, which delete_topology removes (call it from an EXIT trap). PREFIX should be unique to the
# run (include $$). Returns non-zero when a step fails; what was created is still in topology_namespaces.
topology_namespaces=()
docker_topology() {
    local prefix=$1 containers=${2:-0} ns i
    topology_host=$prefix-host
    topology_client=$prefix-client
    local names=("$topology_host" "$topology_client")
    for ((i = 1; i <= containers; i++)); do names+=("$prefix-c$i"); done
    for ns in "${names[@]}"; do
        ip netns add "$ns" || return 1
        topology_namespaces+=("$ns")
        ip -n "$ns" link set lo up || return 1
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
    done
    local host=$topology_host client=$topology_client
    ip link add eth0 netns "$host" type veth peer name eth0 netns "$client" &&
        ip -n "$host" address add 192.0.2.10/24 dev eth0 && ip -n "$client" address add 192.0.2.1/24 dev eth0 &&
        ip -n "$host" link set eth0 up && ip -n "$client" link set eth0 up &&
        ip -n "$client" route add 172.17.0.0/16 via 192.0.2.10 &&
        ip -n "$host" route add default via 192.0.2.1 dev eth0 &&
        ip -n "$host" link add docker0 type bridge && ip -n "$host" address add 172.17.0.1/16 dev docker0 &&
        ip -n "$host" link set docker0 up &&
        ip netns exec "$host" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.default.forwarding=1 ||
        return 1
    for ((i = 1; i <= containers; i++)); do
        ns=$prefix-c$i
        ip link add "veth$i" netns "$host" type veth peer name eth0 netns "$ns" &&
            ip -n "$host" link set "veth$i" master docker0 && ip -n "$host" link set "veth$i" up &&
            ip -n "$ns" address add "172.17.0.$((i + 1))/16" dev eth0 && ip -n "$ns" link set eth0 up &&
            ip -n "$ns" route add default via 172.17.0.1 || return 1
    done
}

# (Re)creates the empty network namespace NAME with lo up: deletes it first when an earlier step of the caller left
# it. delete_topology removes it.
fresh_namespace() {
    local ns=$1
    ip netns delete "$ns" 2>/dev/null || true
    ip netns add "$ns" || return 1
    [[ " ${topology_namespaces[*]} " == *" $ns "* ]] || topology_namespaces+=("$ns")
    ip -n "$ns" link set lo up
}

strip_save_dates() { sed -E 's/ on [A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]+ [0-9]+$//'; }

delete_topology() {
    local ns
    for ns in "${topology_namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
    topology_namespaces=()
}
