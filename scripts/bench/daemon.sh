#!/usr/bin/env bash
# Benchmarks `fwdwatch run` in network namespaces it creates and removes (never the root namespace):
#   1. detection latency (sysctl write -> JSON line / journal entry) beside the kernel's floor,
#   2. a veth churn (create N pairs on bridges, delete them in one burst) with the daemon running,
#   3. idle wakeups, CPU and RSS.
# Prints a table and writes a JSON summary.
#
# Usage: scripts/bench/daemon.sh [--quick] [--out FILE] [--binary PATH] [--only latency|json|journal,churn,idle]
#                                [--flips N] [--veths N] [--idle-seconds S] [--perf] [--keep-parts DIR]
#   --quick   smoke run: 50 flips, 1000 veths, 30 s idle (full: 200 flips, 5000 veths, 60 s idle)
#   --perf    also record `perf record -g` of the daemon during each churn phase (perf-<phase>.txt in the
#             parts directory; sampling at 499 Hz costs the daemon a little CPU)
# Needs root, iproute2, python3 (standard library) and libsystemd. Builds the release binary when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
driver="$here/bench.py"

quick=0
out=/tmp/fwdwatch-bench.json
binary="$repo/.build/release/fwdwatch"
only="latency,churn,idle"
flips="" veths="" idle_seconds="" perf=0 parts=""
while (($#)); do
    case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    --binary) binary="$2"; shift ;;
    --only) only="$2"; shift ;;
    --flips) flips="$2"; shift ;;
    --veths) veths="$2"; shift ;;
    --idle-seconds) idle_seconds="$2"; shift ;;
    --perf) perf=1 ;;
    --keep-parts) parts="$2"; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 64 ;;
    esac
    shift
done
if ((quick)); then
    : "${flips:=50}" "${veths:=1000}" "${idle_seconds:=30}"
else
    : "${flips:=200}" "${veths:=5000}" "${idle_seconds:=60}"
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "daemon.sh needs root (network namespaces, sysctls)" >&2
    exit 77
fi
need_packages=()
command -v ip >/dev/null || need_packages+=(iproute2)
command -v python3 >/dev/null || need_packages+=(python3)
[[ -x /lib/systemd/systemd-journald ]] || need_packages+=(systemd)
if ((perf)) && ! command -v perf >/dev/null; then need_packages+=(linux-perf); fi
if ((${#need_packages[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}"
fi
if [[ ! -x $binary ]]; then
    echo "building $binary (swift build -c release) ..." >&2
    (cd "$repo" && swift build -c release >&2)
fi

suffix="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
host_ns="fwb-$suffix-host"
peer_ns="fwb-$suffix-peer"
[[ -n $parts ]] || parts="$(mktemp -d /tmp/fwdwatch-bench-parts.XXXXXX)"
mkdir -p "$parts"
journald_pid=""

namespaces_delete() {
    local ns pid
    for ns in "$host_ns" "$peer_ns"; do
        [[ -e /run/netns/$ns ]] || continue
        # Only processes inside our own namespace: the daemon and driver we started there.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns delete "$ns" 2>/dev/null || true
    done
}
cleanup() {
    namespaces_delete
    if [[ -n $journald_pid ]]; then
        kill "$journald_pid" 2>/dev/null || true
        wait "$journald_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_host() { ip netns exec "$host_ns" "$@"; }

namespaces_create() {
    namespaces_delete
    ip netns add "$host_ns"
    ip netns add "$peer_ns"
    local ns
    for ns in "$host_ns" "$peer_ns"; do
        # IPv6 off first: with it, attaching 1000 bridge ports takes 30-40 s instead of < 1 s.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip netns exec "$host_ns" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.default.forwarding=1
}

# The incident's host: uplink eth0 192.0.2.10/24 (peer up in the peer namespace), default route,
# bridge docker0 172.17.0.1/16 with one port whose peer is up. Nothing is wrong until we flip eth0.
latency_topology() {
    ip -n "$host_ns" link add eth0 type veth peer name up0 netns "$peer_ns"
    ip -n "$host_ns" address add 192.0.2.10/24 dev eth0
    ip -n "$host_ns" link set eth0 up
    ip -n "$peer_ns" address add 192.0.2.1/24 dev up0
    ip -n "$peer_ns" link set up0 up
    ip -n "$host_ns" route add default via 192.0.2.1 dev eth0
    ip -n "$host_ns" link add docker0 type bridge
    ip -n "$host_ns" address add 172.17.0.1/16 dev docker0
    ip -n "$host_ns" link set docker0 up
    ip -n "$host_ns" link add vethb0 type veth peer name ctr0 netns "$peer_ns"
    ip -n "$host_ns" link set vethb0 master docker0
    ip -n "$host_ns" link set vethb0 up
    ip -n "$peer_ns" address add 172.17.0.2/16 dev ctr0
    ip -n "$peer_ns" link set ctr0 up
}

ensure_journald() {
    if python3 "$driver" journald-answers; then return 0; fi
    echo "journald does not answer: starting /lib/systemd/systemd-journald in the root namespace" >&2
    mkdir -p /run/systemd/journal
    /lib/systemd/systemd-journald &
    journald_pid=$!
    local i
    for i in $(seq 1 100); do
        python3 "$driver" journald-answers && return 0
        sleep 0.05
    done
    echo "journald did not come up" >&2
    return 1
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

python3 - "$parts/meta.json" <<EOF
import json, subprocess, sys, time
def run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd="$repo").stdout.strip()
    except OSError:
        return "?"
json.dump({
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "mode": "quick" if $quick else "full",
    "command": "scripts/bench/daemon.sh" + (" --quick" if $quick else ""),
    "binary": "$binary",
    "commit": run(["git", "rev-parse", "--short", "HEAD"]),
    "kernel": run(["uname", "-r"]),
    "cpus": int(run(["nproc"]) or 0),
    "loadavg_start": "$(loadavg)",
    "flips": $flips, "veths": $veths, "idle_seconds": $idle_seconds,
}, open(sys.argv[1], "w"), indent=2)
EOF

selected() { [[ ,$only, == *,$1,* ]]; }
selected latency && only="$only,json,journal"
if selected json || selected journal; then
    namespaces_create
    latency_topology
fi
if selected json; then
    echo "== latency: JSON ($flips flips)" >&2
    in_host python3 "$driver" latency --binary "$binary" --target json --uplink eth0 --flips "$flips" \
        --part "$parts/latency_json.json"
    echo "== latency: JSON, flips back-to-back (shows the coalescing window)" >&2
    in_host python3 "$driver" latency --binary "$binary" --target json --uplink eth0 \
        --flips "$(( flips < 100 ? flips : 100 ))" --gap-ms 0 --gap-jitter-ms 0 \
        --part "$parts/latency_json_backtoback.json"
fi
if selected journal; then
    ensure_journald
    echo "== latency: journal ($flips flips)" >&2
    in_host python3 "$driver" latency --binary "$binary" --target journal --uplink eth0 --flips "$flips" \
        --part "$parts/latency_journal.json"
fi

if selected idle; then
    [[ -e /run/netns/$host_ns ]] || { namespaces_create; latency_topology; }
    echo "== idle ($idle_seconds s)" >&2
    in_host python3 "$driver" idle --binary "$binary" --seconds "$idle_seconds" --part "$parts/idle.json"
fi

if selected churn; then
    namespaces_create
    echo "== churn ($veths veth pairs)" >&2
    perf_args=()
    ((perf)) && perf_args=(--perf --perf-dir "$parts")
    in_host python3 "$driver" churn --binary "$binary" --veths "$veths" --peer-namespace "$peer_ns" \
        "${perf_args[@]}" --part "$parts/churn.json"
fi
namespaces_delete

python3 - "$parts/meta.json" "$(loadavg)" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
meta["loadavg_end"] = sys.argv[2]
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$driver" summarize --parts "$parts" --meta "$parts/meta.json" --out "$out"
echo "parts: $parts" >&2
