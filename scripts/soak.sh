#!/usr/bin/env bash
# Soak: `fwdwatch run` under random network churn for a bounded time, in network namespaces this script
# creates (and deletes on exit). Needs root.
#
#   bash scripts/soak.sh [--duration SECONDS] [--seed N] [--binary PATH] [--out DIR]
#
#   --duration  how long the churn runs (default 60; the long form is 1800). Checkpoints and the final
#               quiet period come on top (about 15 s).
#   --seed      seeds bash's $RANDOM, to replay the same sequence of actions (default: random, printed).
#   --binary    the fwdwatch to soak (default $FWDWATCH_BIN, else .build/debug/fwdwatch).
#   --out       where the daemon's JSON lines, stderr, samples and the summary go (default: a temporary
#               directory, removed when the soak passes).
#   SOAK_DAEMON_ARGS  extra arguments for `fwdwatch run`, e.g. "--netlink-receive-buffer 65536" to force
#               overruns and resyncs.
#
# The churn: veth pairs created, attached to a bridge, detached, brought down and up, deleted; bridges
# created and deleted with ports attached; forwarding flipped per interface and on `default`; rp_filter set to
# 0, 1 or 2; routes added and removed (host routes, and more specific routes inside a bridge's subnet). The
# daemon runs with `--log-target json` to a file, with NOTIFY_SOCKET/WATCHDOG_USEC pointing at a listener of
# this script, so its watchdog pings are timed as systemd would.
#
# Invariants, at random checkpoints during the run and at the end, each after a quiet period longer than the
# rules' settle time: the daemon's active alerts (raised/changed minus resolved) equal the findings of
# `fwdwatch check --json --sample 0` in the namespace. At the end: the daemon never stopped, its RSS grew less
# than SOAK_RSS_LIMIT_KB (default 10240) after warm-up, its open descriptors did not grow, no watchdog gap
# exceeded WATCHDOG_USEC, stderr stayed empty and SIGTERM stops it with status 0.
# Prints the figures: actions, events, evaluations, resyncs, alerts, RSS start/end, fds, CPU seconds.
# Exits 0 when every invariant held, 1 otherwise, 2 when it could not set up.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
source scripts/lib/common.sh

duration=60
seed=$((RANDOM * 32768 + RANDOM))
binary=${FWDWATCH_BIN:-$repo/.build/debug/fwdwatch}
out=""
while (($# > 0)); do
    case $1 in
        --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
        --seed) seed=${2:?--seed needs a number}; shift 2 ;;
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
[[ $duration =~ ^[0-9]+$ ]] || { echo "soak.sh: --duration must be whole seconds" >&2; exit 64; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "soak.sh: --seed must be a number" >&2; exit 64; }
rss_limit_kb=${SOAK_RSS_LIMIT_KB:-10240}
watchdog_usec=2000000

say() { printf 'soak: %s\n' "$*"; }
fail_setup() { say "SETUP FAILED: $*"; exit 2; }

[[ $(id -u) -eq 0 ]] || { say "skipped: needs root (creates network namespaces)"; exit 0; }
[[ -x $binary ]] || fail_setup "no fwdwatch binary at $binary (swift build first, or --binary)"
install_missing iproute2 jq python3 >/dev/null 2>&1
for tool in ip jq python3; do
    command -v "$tool" >/dev/null 2>&1 || fail_setup "$tool is missing"
done

temporary_out=0
if [[ -z $out ]]; then
    out=$(mktemp -d /tmp/fwdwatch-soak.XXXXXX)
    temporary_out=1
fi
mkdir -p "$out"
RANDOM=$seed
suffix=$(printf '%04x%04x' $RANDOM $RANDOM)
daemon_pid=""
listener_pid=""
failures=()

cleanup() {
    [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid" 2>/dev/null
    [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null
    delete_topology
    rm -f "$out/notify.sock"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { ip netns exec "$ns" "$@"; }
nsip() { ip -n "$ns" "$@" 2>>"$out/churn-errors.log"; }

say "seed $seed, duration ${duration}s, binary $binary, output $out"

# --- the host: uplink eth0 with a default route, docker0 with its subnet and no ports (scripts/lib/common.sh) ---
docker_topology "fws-$suffix" 0 || fail_setup "could not build the namespaces"
ns=$topology_host

# --- a notify socket listener, as systemd would be ----------------------------------------------------------
python3 - "$out/notify.sock" "$out/notify.log" <<'PY' &
import socket, sys, time
path, log = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
with open(log, "a") as out:
    while True:
        data = sock.recv(65536).decode(errors="replace").replace("\n", " ")
        out.write(f"{time.monotonic():.3f} {data}\n")
        out.flush()
PY
listener_pid=$!
for _ in $(seq 50); do [[ -S $out/notify.sock ]] && break; sleep 0.1; done
[[ -S $out/notify.sock ]] || fail_setup "notify listener did not start"

printf '[daemon]\nsweep-interval-seconds = 2\n' >"$out/fwdwatch.toml"
# `ip netns exec` execs the daemon: $! is the daemon's PID.
NOTIFY_SOCKET=$out/notify.sock WATCHDOG_USEC=$watchdog_usec \
    ip netns exec "$ns" "$binary" run --log-target json --config "$out/fwdwatch.toml" ${SOAK_DAEMON_ARGS:-} \
    >"$out/daemon.jsonl" 2>"$out/daemon.stderr" </dev/null &
daemon_pid=$!

started=0
for _ in $(seq 200); do
    grep -q '"fwdwatch started' "$out/daemon.jsonl" 2>/dev/null && { started=1; break; }
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
((started)) || fail_setup "the daemon did not start: $(head -c 2000 "$out/daemon.stderr")"

# --- measurements ----------------------------------------------------------------------------------------
clock_ticks=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$daemon_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
cpu_seconds() {
    # utime and stime are fields 14 and 15; the command name (field 2) has no spaces here.
    awk -v hz="$clock_ticks" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$daemon_pid/stat" 2>/dev/null || echo 0
}
sample() { printf '%s,%s,%s,%s,%s\n' "$SECONDS" "$1" "$(rss_kb)" "$(fd_count)" "$(cpu_seconds)" >>"$out/samples.csv"; }
echo "seconds,phase,rss_kb,fds,cpu_seconds" >"$out/samples.csv"

active_keys() {
    jq -r 'select(.type == "alert") | "\(.state)\t\(.rule) \(.subject)"' "$out/daemon.jsonl" 2>/dev/null |
        awk -F'\t' '$1 == "raised" || $1 == "changed" {a[$2] = 1} $1 == "resolved" {delete a[$2]} END {for (k in a) print k}' |
        sort
}
check_keys() {
    in_ns "$binary" check --json --sample 0 --config "$out/fwdwatch.toml" 2>>"$out/check.stderr" |
        jq -r '.findings[] | "\(.rule) \(.subject)"' | sort -u
}
# Waits until the daemon wrote nothing for 7 s (the rules' settle time is 5 s), at most 90 s.
wait_quiet() {
    local last=-1 since=$SECONDS lines
    while ((SECONDS - since < 7)); do
        lines=$(wc -l <"$out/daemon.jsonl")
        if [[ $lines != "$last" ]]; then
            last=$lines
            since=$SECONDS
        fi
        ((SECONDS - since > 90)) && break
        sleep 0.5
    done
}
checkpoints=0
baseline_fds=""
# Compares the daemon's active set with a fresh check; retries once after another quiet period.
checkpoint() {
    local name=$1 daemon_set check_set
    checkpoints=$((checkpoints + 1))
    for _ in 1 2; do
        wait_quiet
        daemon_set=$(active_keys)
        check_set=$(check_keys)
        [[ $daemon_set == "$check_set" ]] && break
    done
    sample "$name"
    [[ -z $baseline_fds ]] && baseline_fds=$(fd_count)
    if [[ $daemon_set == "$check_set" ]]; then
        say "checkpoint $name at ${SECONDS}s: daemon == check ($(grep -c . <<<"$check_set") active)"
    else
        say "checkpoint $name at ${SECONDS}s: MISMATCH"
        diff <(echo "$daemon_set") <(echo "$check_set") | sed 's/^/    daemon< >check  /' | head -20
        failures+=("checkpoint $name: daemon's active alerts differ from check")
    fi
}

# --- churn -----------------------------------------------------------------------------------------------
veths=()      # host ends currently present
bridges=()    # extra bridges currently present (docker0 is never deleted)
routes=()     # routes this script added
next=0
actions=0
pick() { local -n list=$1; ((${#list[@]})) && echo "${list[RANDOM % ${#list[@]}]}"; }
remove() { local -n list=$1; local keep=() item; for item in "${list[@]}"; do [[ $item != "$2" ]] && keep+=("$item"); done; list=("${keep[@]}"); }
# A random interface of the host (docker0, eth0, a veth or an extra bridge).
any_interface() { local all=(docker0 eth0 "${veths[@]}" "${bridges[@]}"); echo "${all[RANDOM % ${#all[@]}]}"; }

churn_once() {
    local action=$((RANDOM % 14)) v b iface bridge
    case $action in
        0 | 1 | 2) # a container starts: veth pair, attached, up; its peer up or (sometimes) down
            ((${#veths[@]} >= 40)) && return
            v="sv$next"; next=$((next + 1))
            bridge=docker0
            ((${#bridges[@]} && RANDOM % 3 == 0)) && bridge=$(pick bridges)
            nsip link add "$v" type veth peer name "${v}p" && veths+=("$v") || return
            nsip link set "$v" master "$bridge"
            nsip link set "$v" up
            ((RANDOM % 4)) && nsip link set "${v}p" up
            ;;
        3) v=$(pick veths) && nsip link set "$v" nomaster ;;
        4) v=$(pick veths) && nsip link set "$v" master "$( ((${#bridges[@]})) && pick bridges || echo docker0)" ;;
        5) v=$(pick veths) && nsip link set "$v" "$( ((RANDOM % 2)) && echo down || echo up)" ;;
        6 | 7) v=$(pick veths) && { nsip link delete "$v"; remove veths "$v"; } ;;
        8) # a bridge appears, or one goes with its ports attached
            if ((${#bridges[@]} < 4 && RANDOM % 2)); then
                b="sbr$next"; next=$((next + 1))
                nsip link add "$b" type bridge && bridges+=("$b") || return
                nsip address add "10.$((next % 250)).$((RANDOM % 250)).1/24" dev "$b"
                nsip link set "$b" up
            elif ((${#bridges[@]})); then
                b=$(pick bridges)
                nsip link delete "$b"
                remove bridges "$b"
            fi
            ;;
        9) iface=$(any_interface)
            in_ns sysctl -qw "net.ipv4.conf.$iface.forwarding=$((RANDOM % 4 == 0 ? 0 : 1))" 2>>"$out/churn-errors.log" ;;
        10) in_ns sysctl -qw "net.ipv4.conf.default.forwarding=$((RANDOM % 3 == 0 ? 0 : 1))" ;;
        11) iface=$(any_interface)
            in_ns sysctl -qw "net.ipv4.conf.$iface.rp_filter=$((RANDOM % 3))" 2>>"$out/churn-errors.log" ;;
        12) # routes: host routes out of eth0, or a more specific route shadowing part of docker0's subnet
            if ((${#routes[@]} >= 6 || (${#routes[@]} && RANDOM % 2))); then
                local route
                route=$(pick routes)
                nsip route del $route
                remove routes "$route"
            else
                local route
                if ((RANDOM % 2)); then
                    route="198.51.100.$((RANDOM % 250))/32 via 192.0.2.1 dev eth0"
                else
                    route="172.17.$((RANDOM % 250)).0/24 via 192.0.2.1 dev eth0"
                fi
                nsip route add $route && routes+=("$route")
            fi
            ;;
        13) # an orchestrator's burst: 20 containers started and stopped in one go
            ((RANDOM % 4 == 0)) || return
            local batch="" i
            for i in $(seq 20); do
                batch+="link add sb$i type veth peer name sb${i}p"$'\n'"link set sb$i master docker0"$'\n'"link set sb$i up"$'\n'
            done
            for i in $(seq 20); do batch+="link del sb$i"$'\n'; done
            ip -n "$ns" -batch - <<<"$batch" 2>>"$out/churn-errors.log"
            ;;
    esac
    actions=$((actions + 1))
}

sample start
deadline=$((SECONDS + duration))
warmup_at=$((SECONDS + (duration < 50 ? duration / 5 : 10)))
# One checkpoint in the short form, about one per 5 minutes in the long form, at random moments.
next_checkpoint=$((SECONDS + duration / 3 + RANDOM % (duration / 3 + 1)))
checkpoint_every=300
warm=0
last_sample=$SECONDS
while ((SECONDS < deadline)); do
    churn_once
    # Bursts: sometimes several actions back to back, otherwise up to 100 ms between them.
    ((RANDOM % 5)) && sleep "0.0$((RANDOM % 10))"
    if ((!warm && SECONDS >= warmup_at)); then
        sample warm-up
        warm=1
    fi
    if ((SECONDS - last_sample >= 10)); then
        sample churn
        last_sample=$SECONDS
    fi
    if ((SECONDS >= next_checkpoint && SECONDS < deadline - 5)); then
        checkpoint "random-$checkpoints"
        next_checkpoint=$((SECONDS + checkpoint_every / 2 + RANDOM % checkpoint_every))
    fi
    kill -0 "$daemon_pid" 2>/dev/null || break
done
say "churn done: $actions actions, ${#veths[@]} veths and $((${#bridges[@]} + 1)) bridges left"

if ! kill -0 "$daemon_pid" 2>/dev/null; then
    failures+=("the daemon died during the churn: $(tail -c 2000 "$out/daemon.stderr")")
else
    checkpoint final
fi

# --- figures and invariants ------------------------------------------------------------------------------
warm_rss=$(awk -F, '$2 == "warm-up" {print $3}' "$out/samples.csv" | head -1)
[[ -n $warm_rss ]] || warm_rss=$(awk -F, 'NR == 2 {print $3}' "$out/samples.csv")
start_rss=$(awk -F, 'NR == 2 {print $3}' "$out/samples.csv")
end_rss=$(tail -1 "$out/samples.csv" | cut -d, -f3)
max_rss=$(awk -F, 'NR > 1 && $3 > m {m = $3} END {print m + 0}' "$out/samples.csv")
end_fds=$(tail -1 "$out/samples.csv" | cut -d, -f4)
cpu=$(tail -1 "$out/samples.csv" | cut -d, -f5)
growth=$((end_rss - warm_rss))
((growth < rss_limit_kb)) || failures+=("RSS grew by ${growth} kB after warm-up (limit ${rss_limit_kb} kB)")
if [[ -n $baseline_fds && $end_fds -gt $baseline_fds ]]; then
    failures+=("open descriptors grew from $baseline_fds to $end_fds")
fi

# Watchdog: the longest gap between WATCHDOG=1 pings after READY=1, against WATCHDOG_USEC.
watchdog_pings=$(grep -c 'WATCHDOG=1' "$out/notify.log" 2>/dev/null)
max_gap=$(awk '/READY=1/ {ready = 1} ready && /WATCHDOG=1/ {if (last) {g = $1 - last; if (g > m) m = g} last = $1} END {printf "%.3f", m + 0}' "$out/notify.log")
if ((watchdog_pings == 0)); then
    failures+=("no WATCHDOG=1 was received")
elif awk -v g="$max_gap" -v limit="$watchdog_usec" 'BEGIN {exit !(g * 1e6 >= limit)}'; then
    failures+=("a watchdog gap of ${max_gap}s reached WATCHDOG_USEC ($((watchdog_usec / 1000)) ms)")
fi

stop_started=$(date +%s.%N)
kill -TERM "$daemon_pid" 2>/dev/null
status=""
for _ in $(seq 100); do
    if ! kill -0 "$daemon_pid" 2>/dev/null; then break; fi
    sleep 0.05
done
if kill -0 "$daemon_pid" 2>/dev/null; then
    failures+=("SIGTERM did not stop the daemon within 5 s")
    kill -KILL "$daemon_pid"
fi
wait "$daemon_pid"
status=$?
daemon_pid=""
stop_seconds=$(awk -v a="$stop_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
((status == 0)) || failures+=("the daemon exited with status $status")
if [[ -s $out/daemon.stderr ]]; then
    failures+=("the daemon wrote to stderr: $(head -c 1000 "$out/daemon.stderr")")
fi
noisy=$(jq -c 'select(.type == "notice" and .priority <= 4) | .message' "$out/daemon.jsonl" | head -5)
[[ -z $noisy ]] || failures+=("warning notices: $noisy")

stopped=$(jq -c 'select(.type == "notice" and (.message | startswith("fwdwatch stopped"))) | .fields' "$out/daemon.jsonl" | tail -1)
[[ -n $stopped ]] || stopped='{}'
events=$(jq -r '.FWDWATCH_NETLINK_EVENTS // "?"' <<<"$stopped")
evaluations=$(jq -r '.FWDWATCH_EVALUATIONS // "?"' <<<"$stopped")
resyncs=$(grep -c 'Netlink events were lost' "$out/daemon.jsonl")
alerts=$(jq -r 'select(.type == "alert") | .state' "$out/daemon.jsonl" | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
lines=$(wc -l <"$out/daemon.jsonl")

{
    echo "seed:                 $seed"
    echo "duration:             ${duration}s of churn, ${SECONDS}s in all"
    echo "churn actions:        $actions"
    echo "netlink events:       $events"
    echo "evaluations:          $evaluations"
    echo "resyncs:              $resyncs"
    echo "alerts:               ${alerts%, }"
    echo "JSON lines:           $lines"
    echo "checkpoints:          $checkpoints (daemon == check at each unless listed below)"
    echo "RSS:                  start ${start_rss} kB, after warm-up ${warm_rss} kB, end ${end_rss} kB, max ${max_rss} kB (growth ${growth} kB)"
    echo "open descriptors:     first checkpoint ${baseline_fds:-?}, end ${end_fds}"
    echo "CPU:                  ${cpu} s"
    echo "watchdog:             ${watchdog_pings} pings, longest gap ${max_gap}s (WATCHDOG_USEC $((watchdog_usec / 1000)) ms)"
    echo "stop:                 status ${status}, ${stop_seconds}s after SIGTERM"
} | tee "$out/summary.txt" | sed 's/^/soak: /'

if ((${#failures[@]})); then
    for failure in "${failures[@]}"; do say "FAIL: $failure"; done
    say "FAIL (output in $out)"
    exit 1
fi
if ((temporary_out)); then
    rm -rf "$out"
    say "PASS"
else
    say "PASS (output in $out)"
fi
