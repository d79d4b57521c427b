#!/bin/bash
# Evaluation cost against the number of published ports: builds snapshots of the recorded healthy Docker
# host with N containers, each published by its own DNAT and let in by its own DOCKER accept rule (the shape
# Docker writes), and times `fwdwatch check --snapshot` on each, 5 runs, printing the median wall time and
# peak RSS. Pure computation: no namespace, no root, nothing touched.
#   bash scripts/bench/ports.sh [counts...]      default: 10 100 500 1000
#   FWDWATCH_BINARY=.build/release/fwdwatch bash scripts/bench/ports.sh    (default: .build/debug/fwdwatch)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${FWDWATCH_BINARY:-.build/debug/fwdwatch}
[[ -x $binary ]] || { echo "no $binary: run swift build first (or set FWDWATCH_BINARY)" >&2; exit 1; }
counts=("$@")
((${#counts[@]})) || counts=(10 100 500 1000)
work=$(mktemp -d /tmp/fwdwatch-bench-ports.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "${counts[@]}" <<'PY'
import copy, json, sys
work, counts = sys.argv[1], [int(c) for c in sys.argv[2:]]
source = json.load(open("Tests/FwdwatchIntegrationTests/Golden/healthy-docker-host.snapshot.json"))
for n in counts:
    snapshot = copy.deepcopy(source)
    for table in snapshot["firewall"]["tables"]:
        chain = table["chains"].get("DOCKER")
        if chain is None:
            continue
        if table["name"] == "filter":
            accept = chain["rules"][0]
            chain["rules"] = []
        else:
            ret, dnat = chain["rules"][0], chain["rules"][1]
            chain["rules"] = [ret]
        for i in range(n):
            address = f"172.17.{2 + i // 250}.{2 + i % 250}"
            if table["name"] == "filter":
                rule = copy.deepcopy(accept)
                rule["match"]["destination"]["prefixes"] = [address + "/32"]
            else:
                rule = copy.deepcopy(dnat)
                rule["match"]["destinationPorts"]["ranges"] = [{"first": 10001 + i, "last": 10001 + i}]
                rule["target"]["dnat"]["to"]["address"] = address
            chain["rules"].append(rule)
    json.dump(snapshot, open(f"{work}/ports-{n}.json", "w"))
PY
echo "binary: $binary ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%8s  %12s  %10s\n' ports "median wall" "peak RSS"
for n in "${counts[@]}"; do
    times=()
    for _ in 1 2 3 4 5; do
        out=$( { /usr/bin/time -f "%e %M" "$binary" check --snapshot "$work/ports-$n.json" --config /dev/null >/dev/null || true; } 2>&1 | tail -1)
        times+=("$out")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
    printf '%8s  %10s s  %7s kB\n' "$n" "${median% *}" "${median#* }"
done
