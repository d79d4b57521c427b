#!/usr/bin/env bash
# What drop attribution costs (issue 14): the BPF probe on skb:kfree_skb, attached by `fwdwatch check --sample`
# with `[drops] enabled = true`, against the same forwarded path without it. Root; everything lives in network
# namespaces it creates and removes (scripts/lib/common.sh docker_topology: client -> eth0 -> host -> docker0 ->
# veth1 -> container), never the machine's own; it stops only the processes it started, by PID. Bounded: about
# 2 minutes with the defaults.
#
#   bash scripts/bench/drops.sh                 # 7 runs of each, 3 s each
#   RUNS=9 SECONDS_PER_RUN=5 bash scripts/bench/drops.sh
#
# 1. Forwarded throughput: iperf3 UDP, 64-byte datagrams, unlimited rate, client -> container through the host's
#    forwarding and bridge: packets per second received by the container (median), probe off and on, runs
#    interleaved. Also TCP Gbit/s. Healthy forwarded packets are consumed, not dropped, so the tracepoint stays
#    silent for them: the expected cost is nothing.
# 2. Drops: `iptables -I FORWARD -p udp -m length --length 92 -j DROP` in the host namespace makes every datagram a NETFILTER_DROP (a
#    reason the probe counts and samples). The CPU the whole machine spent (/proc/stat, every state but idle and
#    iowait) per million dropped packets (the DROP rule's counter), probe off and on; the difference is the probe's
#    cost per million drops. Other work on the machine adds noise to both: medians, interleaved.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ $(id -u) -ne 0 ]]; then
    echo "drops.sh creates network namespaces and loads a BPF program: run it as root" >&2
    exit 77
fi
source scripts/lib/common.sh
install_missing "${build_packages[@]}" iproute2 iptables iperf3 jq
use_swift

runs=${RUNS:-7}
seconds=${SECONDS_PER_RUN:-3}
fwdwatch=${FWDWATCH_BIN:-}
if [[ -z $fwdwatch ]]; then
    swift build -c release --product fwdwatch >&2
    fwdwatch=.build/release/fwdwatch
fi

prefix=fwb$$
scratch=$(mktemp -d)
pids=()
probe_pid=
cleanup() {
    local pid
    for pid in "${pids[@]}" $probe_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}" $probe_pid; do wait "$pid" 2>/dev/null || true; done
    delete_topology
    rm -rf "$scratch"
}
trap cleanup EXIT

docker_topology "$prefix" 1
host=$topology_host client=$topology_client container=$prefix-c1
printf '[drops]\nenabled = true\n' >"$scratch/drops.toml"

# Attaches the probe in the host namespace for the next measurement; sets probe_pid.
attach() {
    ip netns exec "$host" "$fwdwatch" check --sample 60 --config "$scratch/drops.toml" >/dev/null 2>"$scratch/probe.err" &
    probe_pid=$!
    # Loading reads the kernel's BTF and verifies the program: wait until it is attached (its maps exist).
    local i
    for ((i = 0; i < 50; i++)); do
        if grep -q . "$scratch/probe.err" 2>/dev/null; then
            echo "the probe did not load: $(cat "$scratch/probe.err")" >&2
            exit 1
        fi
        if bpftool -j prog show 2>/dev/null | jq -e 'map(select(.name == "fwdwatch_drop")) | length > 0' >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "the probe did not attach within 5 s" >&2
    exit 1
}
detach() {
    kill "$probe_pid" 2>/dev/null || true
    wait "$probe_pid" 2>/dev/null || true
    probe_pid=
}

ip netns exec "$container" iperf3 -s >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
hz=$(getconf CLK_TCK)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

udp_pps() {
    timeout $((seconds + 10)) ip netns exec "$client" iperf3 -c 172.17.0.2 -u -b 0 -l 64 -t "$seconds" -J |
        jq '(.end.sum.packets - .end.sum.lost_packets) / .end.sum.seconds'
}
tcp_gbits() {
    timeout $((seconds + 10)) ip netns exec "$client" iperf3 -c 172.17.0.2 -t "$seconds" -J |
        jq '.end.sum_received.bits_per_second / 1e9'
}

echo "forwarded throughput: $runs runs of $seconds s each, probe off and on, interleaved" >&2
: >"$scratch/udp-off" >"$scratch/udp-on" >"$scratch/tcp-off" >"$scratch/tcp-on"
for ((run = 1; run <= runs; run++)); do
    udp_pps >>"$scratch/udp-off"
    tcp_gbits >>"$scratch/tcp-off"
    attach
    udp_pps >>"$scratch/udp-on"
    tcp_gbits >>"$scratch/tcp-on"
    detach
    echo "  run $run: udp pps off $(tail -1 "$scratch/udp-off") on $(tail -1 "$scratch/udp-on"); tcp Gbit/s off $(tail -1 "$scratch/tcp-off") on $(tail -1 "$scratch/tcp-on")" >&2
done

echo "drops: every datagram dropped in FORWARD (NETFILTER_DROP), $runs runs of $seconds s each, off and on" >&2
# Only the 64-byte datagrams (IP length 92): iperf3's own UDP handshake (4 bytes) must still reach the server.
ip netns exec "$host" iptables -I FORWARD -p udp -m length --length 92 -j DROP
dropped() { ip netns exec "$host" iptables -nvxL FORWARD 1 | awk '{ print $1 }'; }
# Sends for $seconds s and prints "<cpu seconds per million drops> <drops per second>".
drop_run() {
    ip netns exec "$host" iptables -Z FORWARD 1
    local before after
    before=$(busy_jiffies)
    timeout $((seconds + 10)) ip netns exec "$client" iperf3 -c 172.17.0.2 -u -b 0 -l 64 -t "$seconds" >/dev/null 2>&1 || true
    after=$(busy_jiffies)
    local drops
    drops=$(dropped)
    if ((drops == 0)); then
        echo "nothing was dropped: the flood did not run" >&2
        exit 1
    fi
    awk -v j=$((after - before)) -v hz="$hz" -v d="$drops" -v s="$seconds" \
        'BEGIN { printf "%.4f %.0f\n", (j / hz) / d * 1e6, d / s }'
}
: >"$scratch/drop-off" >"$scratch/drop-on"
for ((run = 1; run <= runs; run++)); do
    drop_run >>"$scratch/drop-off"
    attach
    drop_run >>"$scratch/drop-on"
    detach
    echo "  run $run: cpu s per million drops (drops/s) off $(tail -1 "$scratch/drop-off") on $(tail -1 "$scratch/drop-on")" >&2
done

# Paired: run i off against run i on, so a slow moment of the machine weighs on both sides.
paired() { paste -d' ' "$1" "$2" | awk '{ printf "%.6f\n", ($2 - $1) / $1 * 100 }' | median; }
udp_change=$(paired "$scratch/udp-off" "$scratch/udp-on")
tcp_change=$(paired "$scratch/tcp-off" "$scratch/tcp-on")
drop_change=$(paired <(cut -d' ' -f2 "$scratch/drop-off") <(cut -d' ' -f2 "$scratch/drop-on"))
extra=$(paste -d' ' <(cut -d' ' -f1 "$scratch/drop-off") <(cut -d' ' -f1 "$scratch/drop-on") | awk '{ print $2 - $1 }' | median)
udp_off=$(median <"$scratch/udp-off")
udp_on=$(median <"$scratch/udp-on")
tcp_off=$(median <"$scratch/tcp-off")
tcp_on=$(median <"$scratch/tcp-on")
cpu_off=$(cut -d' ' -f1 "$scratch/drop-off" | median)
cpu_on=$(cut -d' ' -f1 "$scratch/drop-on" | median)
rate_off=$(cut -d' ' -f2 "$scratch/drop-off" | median)
rate_on=$(cut -d' ' -f2 "$scratch/drop-on" | median)
KERNEL=$(uname -r) awk -v uo="$udp_off" -v un="$udp_on" -v to="$tcp_off" -v tn="$tcp_on" -v co="$cpu_off" -v cn="$cpu_on" \
    -v ro="$rate_off" -v rn="$rate_on" -v runs="$runs" -v s="$seconds" -v uc="$udp_change" -v tc="$tcp_change" \
    -v dc="$drop_change" -v ex="$extra" 'BEGIN {
    printf "drop attribution cost (median of %d runs of %d s; kernel %s)\n", runs, s, ENVIRON["KERNEL"]
    printf "  forwarded UDP 64 B, packets/s:  off %.0f  on %.0f  (paired median change %+.2f%%)\n", uo, un, uc
    printf "  forwarded TCP, Gbit/s:          off %.2f  on %.2f  (paired median change %+.2f%%)\n", to, tn, tc
    printf "  dropped UDP 64 B, drops/s:      off %.0f  on %.0f  (paired median change %+.2f%%)\n", ro, rn, dc
    printf "  CPU s per million drops:        off %.3f  on %.3f  (probe: %+.3f CPU s per million drops, paired median)\n", co, cn, ex
}'
