#!/usr/bin/env bash
# Records the golden-test snapshots from the real kernel: builds a Docker-like topology in network
# namespaces of its own (client -- eth0 [host] docker0 -- container1, container2), breaks one thing at a
# time, and writes `fwdwatch snapshot` of the host namespace for each case. Then run the golden tests
# with UPDATE_EXPECTED=1 to rewrite the expected reports, and review the diff.
#
# Usage: scripts/record-fixtures.sh [fwdwatch-binary]   (root; touches only namespaces it creates)
#        scripts/record-fixtures.sh --derive-only          only the cases derived from the healthy recording
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
out=${GOLDEN_DIR:-Tests/FwdwatchIntegrationTests/Golden}  # GOLDEN_DIR: record elsewhere, to compare

# Cases the kernel cannot be driven into cheaply in a namespace, or whose recording would carry what the
# healthy one lacks (neighbours), are derived from the healthy recording.
derive_cases() {
    python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
base = json.load(open(f"{out}/healthy-docker-host.snapshot.json"))
def derive(name, change):
    d = json.loads(json.dumps(base))
    change(d)
    with open(f"{out}/{name}.snapshot.json", "w") as f:
        json.dump(d, f, indent=2, sort_keys=True)
        f.write("\n")
    print("derived", name)
def nat_docker(d):
    table = next(t for t in d["firewall"]["tables"] if t["name"] == "nat")
    return table["chains"]["DOCKER"]["rules"]
def published_dnat(d):
    return next(r for r in nat_docker(d) if "dnat" in r["target"])
def stale_dnat(d):
    # A DNAT left behind by a deleted network's container (172.18.0.2): no local subnet holds it, no route leads there.
    rule = json.loads(json.dumps(published_dnat(d)))
    rule["match"]["destinationPorts"]["ranges"] = [{"first": 10002, "last": 10002}]
    rule["target"]["dnat"]["to"]["address"] = "172.18.0.2"
    rule["origin"] = {"line": 37, "text": "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 10002 -j DNAT --to-destination 172.18.0.2:80"}
    nat_docker(d).append(rule)
def flushed_dnat(d):
    # The nat table lost 10001's DNAT (a firewall reload); the filter table still accepts 172.17.0.2:80.
    rules = nat_docker(d)
    rules.remove(published_dnat(d))
def container_not_answering(d):
    # Container 1 (172.17.0.2, behind veth1) stopped answering: the host's ARP entry for it is FAILED; container 2 answers.
    d["neighbours"] = [
        {"address": "172.17.0.2", "interfaceIndex": 3, "state": "failed"},
        {"address": "172.17.0.3", "interfaceIndex": 3, "linkAddress": "02:42:ac:11:00:03", "state": "reachable"},
        {"address": "192.0.2.1", "interfaceIndex": 2, "linkAddress": "02:00:c0:00:02:01", "state": "reachable"},
    ]
def undecided_drop(d):
    # A DOCKER-USER rule that drops one client network: the model cannot tell whether a client is in it (no
    # alarm), but the drop probe saw 6 of its SYNs to 10001/tcp die in the forward chain in 10 s.
    table = next(t for t in d["firewall"]["tables"] if t["name"] == "filter")
    table["chains"]["DOCKER-USER"]["rules"].insert(0, {
        "counters": {"bytes": 360, "packets": 6},
        "match": {"otherConditions": [], "source": {"negated": False, "prefixes": ["198.51.100.0/24"]}},
        "origin": {"line": 21, "text": "-A DOCKER-USER -s 198.51.100.0/24 -j DROP"},
        "target": {"drop": {}},
    })
    flow = {"beforeDNAT": True, "destination": "192.0.2.10", "destinationPort": 10001, "ingressIndex": 2,
            "reason": "NETFILTER_DROP", "transport": "tcp"}
    d["drops"] = {"counts": [{"clients": ["198.51.100.7", "198.51.100.23"], "flow": flow, "lastSeen": 1765000000.0,
                              "packets": 6}], "seconds": 10.0, "uncounted": 0}
derive("conntrack-table-near-full", lambda d: d.update(conntrack={"count": 240000, "max": 262144}))
derive("bridge-nf-call-disabled", lambda d: d.update(bridgeNetfilter={"callIptables": 0, "callIp6tables": 0, "callArptables": 0}))
derive("in-addr-errors-rising", lambda d: d.update(dropSample={"seconds": 1.0, "inAddrErrors": 40, "forwDatagrams": 0}))
derive("dnat-target-not-on-bridge", stale_dnat)
derive("dnat-rule-missing", flushed_dnat)
derive("dnat-target-not-answering", container_not_answering)
derive("published-port-dropping", undecided_drop)
PY
}
if [[ ${1:-} == --derive-only ]]; then
    derive_cases
    exit 0
fi

bin=$(realpath "${1:-.build/debug/fwdwatch}")
tag=fwrec$$
trap delete_topology EXIT

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

build() {
    delete_topology
    # client -- eth0 [host] docker0 -- veth1: 172.17.0.2, veth2: 172.17.0.3 (scripts/lib/common.sh)
    docker_topology "$tag" 2
    host=$topology_host client=$topology_client
    nsx $host sysctl -qw net.ipv4.conf.all.rp_filter=2
    nsx $host sysctl -qw net.ipv4.conf.default.rp_filter=2
    for dev in eth0 docker0 veth1 veth2; do nsx $host sysctl -qw net.ipv4.conf.$dev.rp_filter=2; done
    # Docker 20.10's own rules for a container 172.17.0.2 published with -p 10001:80
    nsx $host iptables-restore < Tests/Fixtures/stacks/docker-20.10/iptables-save.txt
    # wait until both bridge ports forward and the bridge has carrier
    for _ in $(seq 100); do
        nsx $host ip -o link show docker0 | grep -q LOWER_UP && break
        sleep 0.05
    done
}

record() {
    local name=$1
    shift || true
    nsx $host "$bin" snapshot "$@" --output "$out/$name.snapshot.json"
    # hide the recording machine's name
    python3 - "$out/$name.snapshot.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["hostname"] = "fixture-host"
json.dump(d, open(p, "w"), indent=2, sort_keys=True)
open(p, "a").write("\n")
PY
    echo "recorded $name"
}

build; record healthy-docker-host

build; nsx $host sysctl -qw net.ipv4.conf.eth0.forwarding=0
# traffic from the client to a container while the uplink drops it: InAddrErrors grows
nsx $client python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(30):
    s.sendto(b"x", ("172.17.0.2", 9))
    time.sleep(0.05)' &
sleep 0.2; record incident --sample 1; wait

build; nsx $host sysctl -qw net.ipv4.conf.all.forwarding=0; record ip-forwarding-disabled
build; nsx $host sysctl -qw net.ipv4.conf.default.forwarding=0; record default-forwarding-disabled
build; nsx $host ip link set docker0 down; record bridge-down
build; nsx $host ip addr flush dev docker0; record bridge-no-address
build; nsx $host ip route del 172.17.0.0/16 dev docker0; record bridge-route-missing
build; nsx $host ip route add 172.17.5.0/24 via 192.0.2.1 dev eth0; record bridge-route-shadowed
build; nsx $host ip link set veth2 down; record bridge-port-not-forwarding
build; nsx $host ip link set veth2 nomaster; record veth-detached
build; nsx $host ip route del default; record default-route-missing
build; nsx $host iptables -D DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
record forward-policy-drop-without-accept
build; nsx $host iptables -I DOCKER-USER -i eth0 -j DROP; record docker-user-drop
build; nsx $host iptables -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE; record masquerade-missing
build
ip link add eth1 netns $host type veth peer name eth1 netns $client
nsx $host ip addr add 198.51.100.10/24 dev eth1
nsx $client ip addr add 198.51.100.1/24 dev eth1
nsx $host ip link set eth1 up; nsx $client ip link set eth1 up
nsx $host sysctl -qw net.ipv4.conf.all.rp_filter=0
nsx $host sysctl -qw net.ipv4.conf.eth1.rp_filter=1
for _ in $(seq 100); do nsx $host ip -o link show eth1 | grep -q LOWER_UP && break; sleep 0.05; done
record rp-filter-strict-asymmetric
build
# STP on with a long forward delay: the ports sit in listening/learning, the bridge has no carrier
nsx $host ip link set docker0 type bridge forward_delay 2000 stp_state 1
nsx $host ip link set veth1 down; nsx $host ip link set veth2 down
nsx $host ip link set veth1 up; nsx $host ip link set veth2 up
sleep 0.5; record bridge-no-carrier

delete_topology
derive_cases
