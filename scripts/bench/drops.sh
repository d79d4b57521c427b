#!/usr/bin/env bash
# What drop attribution costs (issue 14): the BPF probe on skb:kfree_skb, attached by `fwdwatch check --sample`
# with `[drops] enabled = true` in the host namespace, against the same traffic without it. Root; everything lives
# in network namespaces it creates and removes (scripts/lib/common.sh docker_topology: client -> eth0 -> host ->
# docker0 -> veth1 -> container), never the machine's own; it stops only the processes it started, by PID.
# Bounded: about 2 minutes with the defaults.
#
#   bash scripts/bench/drops.sh                     # 7 runs of each, 400,000 datagrams a run
#   RUNS=9 PACKETS=1000000 bash scripts/bench/drops.sh
#
# A UDP flood (64-byte datagrams from one sender in the client namespace) through the forwarded veth+bridge path:
#   forwarded  to a receiver in the container: the host forwards and bridges every datagram
#   dropped    `iptables -I FORWARD -p udp -j DROP` in the host: every datagram is a NETFILTER_DROP, a reason the
#              probe counts and samples
# For each, probe off and on, runs interleaved: datagrams per second (wall clock), and the sender's own system CPU
# per million datagrams (getrusage). A veth hands each packet on in the sender's own softirq, so the host's
# forwarding, bridging, netfilter, the drop and the probe are all charged to the sender: its CPU per packet is the
# path's cost, and unlike the wall clock it hardly moves when other work shares the machine. The medians of the
# paired (off, on) runs are printed: the forwarded change is the throughput cost; the dropped difference is the
# probe's CPU per million drops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ $(id -u) -ne 0 ]]; then
    echo "drops.sh creates network namespaces and loads a BPF program: run it as root" >&2
    exit 77
fi
source scripts/lib/common.sh
install_missing "${build_packages[@]}" iproute2 iptables python3 bpftool jq
use_swift

runs=${RUNS:-7}
packets=${PACKETS:-400000}
fwdwatch=${FWDWATCH_BIN:-}
if [[ -z $fwdwatch ]]; then
    swift build -c release --product fwdwatch >&2
    fwdwatch=.build/release/fwdwatch
fi

prefix=fwb$$
scratch=$(mktemp -d)
receiver=
probe_pid=
cleanup() {
    local pid
    for pid in $receiver $probe_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $receiver $probe_pid; do wait "$pid" 2>/dev/null || true; done
    delete_topology
    rm -rf "$scratch"
}
trap cleanup EXIT

docker_topology "$prefix" 1
host=$topology_host client=$topology_client container=$prefix-c1
printf '[drops]\nenabled = true\n' >"$scratch/drops.toml"

cat >"$scratch/send.py" <<'PY'
import resource, socket, sys, time
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 64
before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
for _ in range(count):
    try:
        sender.sendto(payload, (address, port))
    except OSError:
        pass
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - started
# datagrams per second, system CPU seconds per million datagrams
print(f"{count / wall:.0f} {(after.ru_stime - before.ru_stime) / count * 1e6:.4f}")
PY
cat >"$scratch/receive.py" <<'PY'
import socket
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
receiver.bind(("172.17.0.2", 9999))
while True:
    receiver.recv(2048)
PY
ip netns exec "$container" python3 "$scratch/receive.py" &
receiver=$!
sleep 0.3

# Attaches the probe in the host namespace (a check sampling for a minute), waits until it is attached.
attach() {
    ip netns exec "$host" "$fwdwatch" check --sample 60 --config "$scratch/drops.toml" >/dev/null 2>"$scratch/probe.err" &
    probe_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        if grep -q . "$scratch/probe.err" 2>/dev/null; then
            echo "the probe did not load: $(cat "$scratch/probe.err")" >&2
            exit 1
        fi
        if bpftool -j prog show 2>/dev/null | jq -e 'map(select(.name == "fwdwatch_drop")) | length > 0' >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "the probe did not attach within 10 s" >&2
    exit 1
}
detach() {
    kill "$probe_pid" 2>/dev/null || true
    wait "$probe_pid" 2>/dev/null || true
    probe_pid=
}
flood() { timeout 120 ip netns exec "$client" python3 "$scratch/send.py" 172.17.0.2 9999 "$packets"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

measure() { # measure NAME: $runs interleaved pairs into $scratch/NAME-off and NAME-on
    local name=$1 run
    : >"$scratch/$name-off"
    : >"$scratch/$name-on"
    for ((run = 1; run <= runs; run++)); do
        flood >>"$scratch/$name-off"
        attach
        flood >>"$scratch/$name-on"
        detach
        echo "  $name run $run: off $(tail -1 "$scratch/$name-off")  on $(tail -1 "$scratch/$name-on")  (datagrams/s, CPU s per million)" >&2
    done
}

echo "forwarded: $runs pairs of $packets datagrams to a receiver in the container" >&2
measure forwarded
echo "dropped: $runs pairs of $packets datagrams dropped in the host's FORWARD chain (NETFILTER_DROP)" >&2
ip netns exec "$host" iptables -I FORWARD -p udp -j DROP
measure dropped
dropped=$(ip netns exec "$host" iptables -nvxL FORWARD 1 | awk '{ print $1 }')
if ((dropped < runs * 2 * packets * 9 / 10)); then
    echo "only $dropped datagrams were dropped, expected $((runs * 2 * packets))" >&2
    exit 1
fi

column() { cut -d' ' -f"$2" "$scratch/$1"; }
change() { paste -d' ' <(column "$1-off" "$2") <(column "$1-on" "$2") | awk '{ printf "%.6f\n", ($2 - $1) / $1 * 100 }' | median; }
difference() { paste -d' ' <(column "$1-off" "$2") <(column "$1-on" "$2") | awk '{ printf "%.6f\n", $2 - $1 }' | median; }
echo "drop attribution cost: median of $runs interleaved pairs of $packets 64-byte datagrams (kernel $(uname -r), $(nproc) CPUs)"
for name in forwarded dropped; do
    printf '  %-9s datagrams/s off %.0f on %.0f (%+.2f%%); sender CPU s per million off %.3f on %.3f (%+.2f%%, %+.3f s)\n' \
        "$name" "$(column "$name-off" 1 | median)" "$(column "$name-on" 1 | median)" "$(change "$name" 1)" \
        "$(column "$name-off" 2 | median)" "$(column "$name-on" 2 | median)" "$(change "$name" 2)" "$(difference "$name" 2)"
done
