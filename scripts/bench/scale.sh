#!/bin/bash
# Scale benchmark: the cost of `fwdwatch check` (read the live host + evaluate) and of one evaluation
# (`check --snapshot` of the snapshot that host gives: what the daemon spends after every change, a sysctl
# flip included, since it re-evaluates the whole snapshot) on generated hosts of growing size, in network
# namespaces this script creates and removes:
#   docker:        100 / 1,000 / 10,000 published ports (Docker 20.10's rule shape, one container each)
#   kube iptables: 200 / 2,000 / 10,000 services (kube-proxy's iptables shape, 2 endpoints, every 10th a NodePort)
#   kube nftables: the same in kube-proxy's nftables shape
# Prints the median of 5 runs, peak RSS, and the growth ratio between consecutive sizes. Root only.
#   bash scripts/bench/scale.sh                   # all of it (about 10 minutes on 2 cores, release build first)
#   SIZES_DOCKER="100 1000" SIZES_KUBE="200" bash scripts/bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
[[ $(id -u) -eq 0 ]] || { echo "scale.sh creates network namespaces: run it as root" >&2; exit 1; }
swift build -c release --product fwdwatch >/dev/null
swift build -c release --product fwdwatch-fixtures >/dev/null
bin=.build/release
runs=${RUNS:-5}
work=$(mktemp -d /tmp/fwdwatch-scale.XXXXXX)
host=fwbench-host-$$
client=fwbench-cli-$$
cleanup() { ip netns del "$host" 2>/dev/null || true; ip netns del "$client" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# setup KIND SIZE: a fresh host namespace with the uplink, the generated topology and rules.
setup() {
    local kind=$1 size=$2
    ip netns del "$host" 2>/dev/null || true
    ip netns del "$client" 2>/dev/null || true
    ip netns add "$host"
    ip netns add "$client"
    ip netns exec "$host" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.ip_forward=1
    ip -n "$host" link set lo up
    ip -n "$host" link add eth0 type veth peer name eth0 netns "$client"
    ip -n "$host" addr add 192.0.2.10/24 dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$client" addr add 192.0.2.1/24 dev eth0
    ip -n "$client" link set eth0 up
    ip -n "$host" route add default via 192.0.2.1
    local topology=${kind%%-*}
    "$bin/fwdwatch-fixtures" topology "$topology" "$size" "$client" | ip -n "$host" -batch -
    for peer in $(ip -n "$client" -o link show | grep -o 'q-[^:@]*'); do ip -n "$client" link set "$peer" up; done
    ip -n "$client" link set "q-$(ip -n "$client" -o link show | grep -o "q-[a-z0-9]*" | head -1 | cut -c3-)" up 2>/dev/null || true
    case $kind in
        docker) "$bin/fwdwatch-fixtures" rules docker-iptables "$size" | ip netns exec "$host" iptables-restore ;;
        kube-iptables) "$bin/fwdwatch-fixtures" rules kube-iptables "$size" | ip netns exec "$host" iptables-restore ;;
        kube-nftables) "$bin/fwdwatch-fixtures" rules kube-nftables "$size" | ip netns exec "$host" nft -f - ;;
    esac
}

# time_it CMD...: prints "seconds peak_kB" of one run.
time_it() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }

echo "fwdwatch $(git rev-parse --short HEAD 2>/dev/null || echo '?') (release), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %7s %8s %12s %10s %14s %10s\n' case size ports "check (s)" "check RSS" "evaluation (s)" "eval RSS"
bench() {
    local kind=$1; shift
    local previous_check="" previous_eval="" previous_size=""
    for size in "$@"; do
        setup "$kind" "$size"
        local checks=() evals=() check_rss=() eval_rss=()
        for _ in $(seq "$runs"); do
            read -r seconds rss < <(time_it ip netns exec "$host" "$bin/fwdwatch" check --config /dev/null --sample 0 || true)
            checks+=("$seconds"); check_rss+=("$rss")
        done
        ip netns exec "$host" "$bin/fwdwatch" snapshot -o "$work/snapshot.json"
        local ports
        ports=$( { "$bin/fwdwatch" check --config /dev/null --snapshot "$work/snapshot.json" --json || true; } | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("publishedPorts", [])))' 2>/dev/null || echo "?")
        for _ in $(seq "$runs"); do
            read -r seconds rss < <(time_it "$bin/fwdwatch" check --config /dev/null --snapshot "$work/snapshot.json" || true)
            evals+=("$seconds"); eval_rss+=("$rss")
        done
        local check eval
        check=$(printf '%s\n' "${checks[@]}" | median)
        eval=$(printf '%s\n' "${evals[@]}" | median)
        printf '%-14s %7s %8s %12s %8s kB %14s %7s kB' "$kind" "$size" "$ports" "$check" "$(printf '%s\n' "${check_rss[@]}" | median)" "$eval" "$(printf '%s\n' "${eval_rss[@]}" | median)"
        if [[ -n $previous_check ]]; then
            awk -v a="$previous_check" -v b="$check" -v c="$previous_eval" -v d="$eval" -v s="$previous_size" -v t="$size" \
                'BEGIN { printf "   growth x%.1f size: check x%.1f, evaluation x%.1f", t/s, (a>0?b/a:0), (c>0?d/c:0) }'
        fi
        echo
        previous_check=$check; previous_eval=$eval; previous_size=$size
    done
}
bench docker ${SIZES_DOCKER:-100 1000 10000}
bench kube-iptables ${SIZES_KUBE:-200 2000 10000}
bench kube-nftables ${SIZES_KUBE:-200 2000 10000}
