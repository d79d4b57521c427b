#!/usr/bin/env bash
# Checks the shipped Prometheus alerting rules packaging/prometheus/fwdwatch-alerts.yml with promtool (from Debian's
# prometheus package, unpacked but not installed by scripts/promtool.sh):
#   - `promtool check rules`: the file parses, every expression and template is valid;
#   - `promtool test rules packaging/prometheus/fwdwatch-alerts.test.yml`: the incident's series fire
#     FwdwatchCriticalProblem and FwdwatchPublishedPortUnreachable, a healthy host fires nothing, healing resolves,
#     a stopped daemon fires FwdwatchStale, and so on;
#   - every alert of the rules file is expected to fire in at least one test case (a new alert needs a test);
#   - every metric the rules and tests use is a name FwdwatchMetrics exposes;
#   - the tests can fail: copies of the rules with an alert broken on purpose (one that never fires, one that
#     fires on everything) must make `promtool test rules` fail;
#   - as root: the real daemon's textfile on the incident, built in network namespaces this script creates and
#     deletes (healthy, broken, healed), fires the critical alerts during the breakage only (see below).
# Uses $FWDWATCH, else .build/debug/fwdwatch. Exits 1 on any failure; prints "promtool.sh: N passed, N failed" last.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1

rules=packaging/prometheus/fwdwatch-alerts.yml
tests=packaging/prometheus/fwdwatch-alerts.test.yml

source "$repo/scripts/tests/lib/checks.sh"
source "$repo/scripts/lib/common.sh"

if ! promtool=$(bash scripts/promtool.sh); then
    echo "promtool.sh: FAIL (no promtool: scripts/promtool.sh could not find or fetch one)"
    exit 1
fi
echo "using $promtool ($("$promtool" --version 2>&1 | head -1))"

if output=$("$promtool" check rules "$rules" 2>&1); then
    pass "promtool check rules $rules ($(grep -o '[0-9]* rules found' <<<"$output"))"
else
    echo "$output"
    fail "promtool check rules $rules"
fi

if output=$("$promtool" test rules "$tests" 2>&1); then
    pass "promtool test rules $tests"
else
    echo "$output"
    fail "promtool test rules $tests"
fi

# An alert is expected to fire where a test's `alertname:` is followed by a block `exp_alerts:` (a list of
# alerts); `exp_alerts: []` expects none.
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules")
fired=$(awk '
    match($0, /alertname: *[A-Za-z0-9_]+/) { name = substr($0, RSTART, RLENGTH); sub(/alertname: */, "", name) }
    /exp_alerts: *$/ { print name }
' "$tests" | sort -u)
for alert in $alerts; do
    if grep -qx "$alert" <<<"$fired"; then
        pass "a test expects $alert to fire"
    else
        fail "no test expects $alert to fire"
    fi
done

# Every metric the rules and their tests use is one the daemon exposes (a name in quotes in Sources/FwdwatchMetrics),
# so a rename on either side cannot leave an alert that silently never fires.
if compgen -G "Sources/FwdwatchMetrics/*.swift" >/dev/null; then
    exposed=$(grep -ho '"fwdwatch_[a-z_]*"' Sources/FwdwatchMetrics/*.swift | tr -d '"' | sort -u)
    for metric in $(grep -ho 'fwdwatch_[a-z_]*' "$rules" "$tests" | sort -u); do
        if grep -qx "$metric" <<<"$exposed"; then
            pass "$metric is exposed by FwdwatchMetrics"
        else
            fail "$metric is used in the rules or tests but FwdwatchMetrics exposes no such metric"
        fi
    done
else
    echo "  (Sources/FwdwatchMetrics does not exist: metric names not cross-checked)"
fi

# The tests must be able to fail: break the rules on purpose in a scratch copy.
scratch=$(mktemp -d /tmp/fwdwatch-promtool-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cp "$tests" "$scratch/"
mutant() { # mutant DESCRIPTION SED-EXPRESSION: promtool test rules must fail on the rules so edited.
    local description=$1 expression=$2
    sed "$expression" "$rules" >"$scratch/$(basename "$rules")"
    if cmp -s "$rules" "$scratch/$(basename "$rules")"; then
        fail "mutant '$description' changed nothing (the sed expression no longer matches $rules)"
    elif "$promtool" test rules "$scratch/$(basename "$tests")" >"$scratch/mutant.log" 2>&1; then
        fail "the tests pass although $description"
    else
        pass "the tests fail when $description ($(grep -c 'alertname:' "$scratch/mutant.log") failing checks)"
    fi
}
mutant "FwdwatchCriticalProblem never fires" 's/fwdwatch_problem_active{severity="critical"} == 1/fwdwatch_problem_active{severity="critical"} == 2/'
mutant "FwdwatchCriticalProblem fires on every problem" 's/fwdwatch_problem_active{severity="critical"} == 1/fwdwatch_problem_active == 1/'
mutant "FwdwatchStale fires on a fresh daemon" 's/fwdwatch_last_evaluation_timestamp_seconds > 300/fwdwatch_last_evaluation_timestamp_seconds > -1/'

# --- The rules on a real exposition ----------------------------------------------------------------------------
# The real daemon runs on the incident built in network namespaces (uplink eth0, bridge docker0 with one port, a
# DNAT publishing 10001/tcp to 172.17.0.2:80) and writes node_exporter's textfile. Three expositions are taken:
# healthy, with net.ipv4.conf.eth0.forwarding=0, and healed. Each becomes 12 scrapes 15 s apart (what Prometheus
# sees while node_exporter serves an unchanged file), a series missing from the next exposition is marked stale (as
# a scrape without it does), and `promtool test rules` checks which alerts fire. The timestamp gauges are left out:
# their real unix times mean nothing on promtool's clock, which starts at 0.

# derive_series REPEAT FILE...: promtool input_series (YAML) from expositions, each repeated REPEAT steps.
derive_series() {
    local repeat=$1
    shift
    awk -v repeat="$repeat" -v extra='job="fwdwatch",instance="incident-host:10039"' '
        FNR == 1 { phase++ }
        /^#/ || NF == 0 { next }
        {
            value = $NF
            series = substr($0, 1, length($0) - length($NF))
            sub(/[ \t]+$/, "", series)
            if (series ~ /^fwdwatch_last_[a-z_]*timestamp_seconds/) next
            if (value !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/) next
            if (index(series, "{")) sub(/\{/, "{" extra ",", series); else series = series "{" extra "}"
            if (!(series in seen)) { seen[series] = 1; order[++count] = series }
            values[series, phase] = value
        }
        END {
            for (i = 1; i <= count; i++) {
                series = order[i]; line = ""; state = "absent"
                for (p = 1; p <= phase; p++) {
                    for (r = 1; r <= repeat; r++) {
                        if ((series, p) in values) { token = values[series, p]; state = "present" }
                        else if (state == "present") { token = "stale"; state = "gone" }
                        else token = "_"
                        line = line (line == "" ? "" : " ") token
                    }
                }
                printf "      - series: '\''%s'\''\n        values: '\''%s'\''\n", series, line
            }
        }' "$@"
}

# wait_for_exposition FILE DEADLINE-SECONDS PATTERN [absent]: waits until FILE contains (or no longer contains) a
# line matching PATTERN.
wait_for_exposition() {
    local file=$1 deadline=$((SECONDS + $2)) pattern=$3 want=${4:-present}
    while ((SECONDS < deadline)); do
        if [[ -s $file ]]; then
            if grep -q -- "$pattern" "$file"; then [[ $want == present ]] && return 0; else [[ $want == absent ]] && return 0; fi
        fi
        sleep 0.1
    done
    return 1
}

# The namespaces and the daemon of real_exposition, removed and stopped (by PID) by cleanup_real, also on exit.
daemon_pid=
cleanup_real() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
    fi
    delete_topology
}
trap 'cleanup_real; rm -rf "$scratch"' EXIT
trap 'exit 1' INT TERM

real_exposition() {
    local fwdwatch=${FWDWATCH:-$repo/.build/debug/fwdwatch}
    if [[ $(id -u) -ne 0 ]]; then
        echo "  (not root: the real-exposition check is skipped; it needs network namespaces)"
        return 0
    fi
    if [[ ! -x $fwdwatch ]]; then
        echo "  (no $fwdwatch: the real-exposition check is skipped; run swift build first)"
        return 0
    fi
    if ! grep -q 'MetricsTextfile' Sources/FwdwatchDaemon/*.swift Sources/fwdwatch/*.swift 2>/dev/null; then
        echo "  (the daemon does not write the metrics textfile yet: the real-exposition check is skipped)"
        return 0
    fi
    local suffix work
    suffix=$(tr -dc 'a-z0-9' </dev/urandom | head -c 6)
    work="$scratch/real"
    mkdir -p "$work/textfile"
    # The incident's host (scripts/lib/common.sh): eth0, docker0 with container 172.17.0.2 behind veth1.
    if ! docker_topology "fwt-alerts-$suffix" 1 ||
        ! ip netns exec "$topology_host" sh -e -c '
            iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 10001 -j DNAT --to-destination 172.17.0.2:80
            iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'; then
        fail "build the incident's namespaces"
        cleanup_real
        return
    fi
    local in_host=(ip netns exec "$topology_host")
    printf '[daemon]\nsweep-interval-seconds = 0.5\n[metrics]\ntextfile-directory = "%s"\n' "$work/textfile" \
        >"$work/fwdwatch.toml"
    local prom="$work/textfile/fwdwatch.prom"
    "${in_host[@]}" "$fwdwatch" run --config "$work/fwdwatch.toml" --log-target console \
        >"$work/daemon.log" 2>&1 </dev/null &
    daemon_pid=$!
    # A rule may hold a finding back for its settle time (at most 5 s) before raising it.
    local settled_at=$((SECONDS + 6))
    local active='^fwdwatch_problem_active{'
    local eth0='^fwdwatch_problem_active{.*rule="interface-forwarding-disabled".*subject="eth0"'
    if ! wait_for_exposition "$prom" 20 '^fwdwatch_problems{'; then
        sed 's/^/  daemon: /' "$work/daemon.log" | tail -10
        fail "the daemon wrote no $prom within 20 s"
        cleanup_real
        return
    fi
    # Healthy: copied once every rule's settle time has passed, so a problem held back would be in it.
    while ((SECONDS < settled_at)); do sleep 0.2; done
    cp "$prom" "$work/1-healthy.prom"
    "${in_host[@]}" sysctl -q -w net.ipv4.conf.eth0.forwarding=0
    if wait_for_exposition "$prom" 20 "$eth0" && wait_for_exposition "$prom" 20 'fwdwatch_published_ports{status="unreachable"} [1-9]'; then
        cp "$prom" "$work/2-incident.prom"
    else
        fail "the exposition shows no interface-forwarding-disabled on eth0 within 20 s of the breakage"
        cleanup_real
        return
    fi
    "${in_host[@]}" sysctl -q -w net.ipv4.conf.eth0.forwarding=1
    if wait_for_exposition "$prom" 20 "$active" absent; then
        cp "$prom" "$work/3-healed.prom"
    else
        fail "problems still active in the exposition 20 s after healing: $(grep "$active" "$prom" | tr '\n' ' ')"
        cleanup_real
        return
    fi
    cleanup_real
    pass "the daemon's textfile went healthy -> incident -> healed ($(grep -c "$active" "$work/2-incident.prom") problem series during the incident)"

    local firing='ALERTS{alertstate="firing",alertname=~"FwdwatchCriticalProblem|FwdwatchPublishedPortUnreachable"}'
    local labels='job="fwdwatch",instance="incident-host:10039"'
    {
        echo "rule_files: ['$repo/$rules']"
        echo "evaluation_interval: 15s"
        echo "tests:"
        echo "  - name: real expositions of the incident (healthy 0-3m, broken 3-6m, healed from 6m)"
        echo "    interval: 15s"
        echo "    input_series:"
        derive_series 12 "$work/1-healthy.prom" "$work/2-incident.prom" "$work/3-healed.prom"
        echo "    promql_expr_test:"
        echo "      - { expr: '$firing', eval_time: 2m45s, exp_samples: [] }"
        echo "      - expr: '$firing'"
        echo "        eval_time: 5m45s"
        echo "        exp_samples:"
        echo "          - labels: 'ALERTS{alertname=\"FwdwatchCriticalProblem\",alertstate=\"firing\",$labels,rule=\"interface-forwarding-disabled\",subject=\"eth0\",severity=\"critical\"}'"
        echo "            value: 1"
        echo "          - labels: 'ALERTS{alertname=\"FwdwatchCriticalProblem\",alertstate=\"firing\",$labels,rule=\"published-port-unreachable\",subject=\"10001/tcp\",severity=\"critical\"}'"
        echo "            value: 1"
        echo "          - labels: 'ALERTS{alertname=\"FwdwatchPublishedPortUnreachable\",alertstate=\"firing\",$labels,status=\"unreachable\",severity=\"critical\"}'"
        echo "            value: 1"
        echo "      - { expr: '$firing', eval_time: 6m15s, exp_samples: [] }"
    } >"$work/real.test.yml"
    if output=$("$promtool" test rules "$work/real.test.yml" 2>&1); then
        pass "on the real expositions, FwdwatchCriticalProblem (eth0, 10001/tcp) and FwdwatchPublishedPortUnreachable fire during the incident only"
    else
        echo "$output" | tail -30
        for phase in "$work"/[123]-*.prom; do
            echo "  $(basename "$phase"): $(grep -E '^fwdwatch_(problem_active|published_ports)' "$phase" | tr '\n' ' ')"
        done
        fail "promtool test rules on the real expositions"
    fi
}
echo "== the rules on the daemon's real exposition of the incident"
real_exposition

echo
echo "promtool.sh: $((checks - failures)) passed, $failures failed"
((failures == 0))
