#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/Targets and runs each for a bounded time on its seed corpus.
#
#   bash scripts/fuzz.sh [SECONDS-PER-TARGET]     build, then fuzz every target (default 60 s each)
#   bash scripts/fuzz.sh --build-only             build the fuzz binaries and exit
#   bash scripts/fuzz.sh --replay                 build, then run every committed corpus input once (no fuzzing)
#   bash scripts/fuzz.sh --smoke [SECONDS]        build, replay the committed corpus, then fuzz SECONDS (default 5)
#                                                 per target: what scripts/tests/fuzz-smoke.sh runs
#   FUZZ_TARGETS="config snmp" bash scripts/fuzz.sh 30     only these targets
#
# How it builds (see Fuzz/README.md): the library modules are compiled by SwiftPM with
# `--sanitize fuzzer --sanitize address` (coverage + ASan) into .build-fuzz/,
# from a copy of the package taken first so that edits made while it builds do not break it; then each target
# is linked with swiftc against those object files. The default `swift build` never sees any of this.
#
# Output: one line per target with executions, seconds, new corpus entries and crashes. Crash inputs are
# kept in .build-fuzz/crashes/<target>/ (reproduce with `.build-fuzz/bin/fuzz-<target> FILE`); inputs the
# fuzzer found that add coverage go to .build-fuzz/corpus/<target>/ (copy good ones into Fuzz/corpus/).
# Exits 1 when a target crashed (or timed out / ran out of memory), 2 when the build failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
source scripts/lib/common.sh
use_swift

mode=fuzz
seconds=60
case "${1:-}" in
    --build-only) mode=build ;;
    --replay) mode=replay ;;
    --smoke)
        mode=smoke
        seconds=${2:-5}
        [[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "fuzz.sh: --smoke takes seconds" >&2; exit 64; }
        ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    "") ;;
    *)
        if [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0)); then
            seconds=$1
        else
            echo "fuzz.sh: expected a number of seconds, --build-only or --replay, got '$1'" >&2
            exit 64
        fi
        ;;
esac

# target name -> Swift file in Fuzz/Targets (besides the shared files).
declare -A sources=(
    [config]=ConfigFuzzTarget.swift
    [snapshot]="SnapshotFuzzTarget.swift ../../Sources/FwdwatchDaemon/SnapshotFile.swift"
    [snmp]=SNMPFuzzTarget.swift
    [iptables-save]=IptablesSaveFuzzTarget.swift
    [nft-json]=NftablesFuzzTarget.swift
    [glob-ipv4]=GlobIPv4FuzzTarget.swift
)
shared_sources=(FuzzInput.swift FirewallFuzzUse.swift)
# Seeds besides the committed Fuzz/corpus/<target>: recorded test fixtures the target parses, read where the tests
# keep them (globs below the repository) instead of copies: the golden snapshots, the firewall rule sets, /proc.
declare -A fixture_seeds=(
    [snapshot]="Tests/FwdwatchIntegrationTests/Golden/*.snapshot.json"
    [iptables-save]="Tests/Fixtures/firewall/iptables-*-save-c.txt Tests/Fixtures/stacks/docker-20.10/iptables-save*.txt"
    [nft-json]="Tests/Fixtures/firewall/nft-*.json"
    [snmp]="Tests/Fixtures/proc-docker-host/proc/net/snmp"
)
all_targets=(config snapshot snmp iptables-save nft-json glob-ipv4)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"
for target in "${targets[@]}"; do
    if [[ -z ${sources[$target]:-} ]]; then
        echo "fuzz.sh: unknown target '$target' (known: ${all_targets[*]})" >&2
        exit 64
    fi
done

work=${FUZZ_WORK:-$repo/.build-fuzz}
copy="$work/package"
scratch="$work/build"
bin="$work/bin"
# The library modules the targets import; SwiftPM builds each with its dependencies. FwdwatchDaemon (for
# SnapshotFile) would pull in libnl, libsystemd and swift-service-lifecycle: the snapshot target compiles
# Sources/FwdwatchDaemon/SnapshotFile.swift itself instead, which needs only FwdwatchCore.
library_targets=(FwdwatchConfig FwdwatchFirewall FwdwatchProc)
# Every module whose object files the fuzz binaries link.
linked_modules=(FwdwatchCore FwdwatchProc FwdwatchFirewall FwdwatchConfig)

# Mirrors $1 into $2 file by file, copying only what changed (so SwiftPM's incremental build still works)
# and removing what no longer exists.
mirror() {
    local from=$1 to=$2 file
    mkdir -p "$to"
    while IFS= read -r -d '' file; do
        if ! cmp -s "$from/$file" "$to/$file"; then
            mkdir -p "$to/$(dirname "$file")"
            cp -p "$from/$file" "$to/$file"
        fi
    done < <(cd "$from" && find . -type f -print0)
    while IFS= read -r -d '' file; do
        [[ -e $from/$file ]] || rm -f "$to/$file"
    done < <(cd "$to" && find . -type f -print0)
}

build() {
    echo "fuzz.sh: copying the package to $copy"
    mkdir -p "$copy"
    for file in Package.swift Package.resolved; do
        [[ -f $file ]] && cp -p "$file" "$copy/$file"
    done
    local folder
    for folder in Sources Tests Plugins; do
        [[ -d $repo/$folder ]] && mirror "$repo/$folder" "$copy/$folder"
    done

    local target
    for target in "${library_targets[@]}"; do
        echo "fuzz.sh: swift build -c release --sanitize fuzzer --sanitize address --target $target"
        mkdir -p "$work/logs"
        if ! swift build -c release --package-path "$copy" --scratch-path "$scratch" \
            --sanitize fuzzer --sanitize address --target "$target" >"$work/logs/build-$target.log" 2>&1; then
            tail -n 40 "$work/logs/build-$target.log" >&2
            echo "fuzz.sh: building $target failed (log: $work/logs/build-$target.log)" >&2
            return 1
        fi
    done

    local release="$scratch/release"
    local objects=() module
    for module in "${linked_modules[@]}"; do
        while IFS= read -r -d '' object; do objects+=("$object"); done < <(find "$release/$module.build" -name '*.o' -print0)
    done

    mkdir -p "$bin"
    local name
    for name in "${targets[@]}"; do
        local output="$bin/fuzz-$name"
        local inputs=() file
        for file in ${sources[$name]} "${shared_sources[@]}"; do inputs+=("$repo/Fuzz/Targets/$file"); done
        echo "fuzz.sh: linking $output"
        if ! swiftc -O -parse-as-library -use-ld=lld -sanitize=fuzzer,address -module-name "FuzzTarget" \
            -I "$release/Modules" \
            "${inputs[@]}" "${objects[@]}" \
            -o "$output"; then
            echo "fuzz.sh: linking fuzz-$name failed" >&2
            return 1
        fi
    done
}

if ! build; then
    echo "fuzz.sh: FAIL (build)"
    exit 2
fi
[[ $mode == build ]] && { echo "fuzz.sh: built ${targets[*]} in $bin"; exit 0; }

# The read-only seed directories of target $1, in the array `seeds`: Fuzz/corpus/<target> when it exists, and
# $work/seeds/<target> holding this run's copy of its fixture seeds (libFuzzer reads directories, not globs).
seed_directories() {
    local name=$1 file
    seeds=()
    [[ -d $repo/Fuzz/corpus/$name ]] && seeds+=("$repo/Fuzz/corpus/$name")
    [[ -n ${fixture_seeds[$name]:-} ]] || return 0
    local staged="$work/seeds/$name"
    rm -rf "$staged" && mkdir -p "$staged"
    for file in ${fixture_seeds[$name]}; do
        [[ -f $repo/$file ]] && cp "$repo/$file" "$staged/${file//\//_}"
    done
    seeds+=("$staged")
}

# Runs one target; prints "target runs seconds new crashes" and returns non-zero on a crash.
run_target() {
    local name=$1
    local corpus="$work/corpus/$name" crashes="$work/crashes/$name" log="$work/logs/$name.log"
    mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
    local seeds
    seed_directories "$name"
    local options=(-rss_limit_mb=4096 -timeout=10 -max_len=65536 -print_final_stats=1
        -artifact_prefix="$crashes/")
    [[ -f $repo/Fuzz/dictionaries/$name.dict ]] && options+=(-dict="$repo/Fuzz/dictionaries/$name.dict")
    local status
    local started=$SECONDS
    touch "$work/logs/$name.started"
    if [[ $mode == replay || $mode == smoke ]]; then
        # Every committed input, once: a crash any of them still causes fails the run.
        SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin/fuzz-$name" "${options[@]}" -runs=0 "${seeds[@]}" >"$log" 2>&1
        status=$?
    fi
    if [[ $mode == fuzz || ($mode == smoke && $status -eq 0) ]]; then
        # New coverage goes to the scratch corpus; the committed seeds are read only.
        SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin/fuzz-$name" "${options[@]}" -max_total_time="$seconds" \
            "$corpus" "${seeds[@]}" >"$log" 2>&1
        status=$?
    fi
    local runs new found
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
    found=$(find "$crashes" -type f -newer "$work/logs/$name.started" | wc -l)
    printf '%-14s %12s runs %5ss %6s new inputs %3s new crash files  %s\n' "$name" "${runs:-?}" "$((SECONDS - started))" \
        "${new:-?}" "$found" "$([[ $status -eq 0 ]] && echo ok || echo "FAILED (status $status, log $log)")"
    if [[ $status -ne 0 ]]; then
        grep -m 5 -E 'ERROR|Fatal error|deadly signal|SUMMARY|timeout|out-of-memory' "$log" | sed 's/^/    /'
        return 1
    fi
}

case $mode in
    replay) echo "fuzz.sh: replaying Fuzz/corpus and the fixture seeds" ;;
    smoke) echo "fuzz.sh: replaying Fuzz/corpus and the fixture seeds, then fuzzing ${seconds}s per target" ;;
    *) echo "fuzz.sh: fuzzing ${seconds}s per target" ;;
esac
failed=()
for name in "${targets[@]}"; do
    run_target "$name" || failed+=("$name")
done
if ((${#failed[@]} > 0)); then
    echo "fuzz.sh: FAIL (crashed: ${failed[*]})"
    exit 1
fi
echo "fuzz.sh: PASS (${targets[*]})"
