#!/usr/bin/env bash
# The benchmark of issue 12 in one run (root; every host it measures lives in network namespaces it creates and
# removes, never the machine's own): `fwdwatch check` and one evaluation at 100/1,000/10,000 published Docker ports
# and 200/2,000/10,000 kube-proxy services (iptables and nftables), the evaluation after a sysctl flip, the rule
# re-read per nf_tables commit, sysctl write -> JSON alert and -> journal entry beside the kernel's own event, a
# 3,000-veth churn, idle RSS and wakeups; then one table with the issue's targets. The harness is Swift
# (Sources/fwdwatch-bench on the integration tests' FwdwatchTestSupport).
#
#   bash scripts/bench/run.sh            # everything (15+ minutes on 2 cores)
#   bash scripts/bench/run.sh --quick    # smaller sizes, fewer runs (a few minutes)
#   bash scripts/bench/run.sh --kube-sizes 2000 --docker-sizes 10000 --runs 3    # any fwdwatch-bench flag
#
# Installs what is missing with apt-get, builds the release fwdwatch, fwdwatch-fixtures and fwdwatch-bench, and
# runs `fwdwatch-bench all "$@"` (`fwdwatch-bench --help` lists the flags; subcommands scale, latency, churn and
# idle run one part).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh creates network namespaces and starts journald: run it as root" >&2
    exit 77
fi

source scripts/lib/common.sh
# curl reads the daemon's /metrics in the churn (its evaluations); time(1) gives check's peak RSS; git the commit.
install_missing "${build_packages[@]}" "${runtime_packages[@]}" curl time git
use_swift

for product in fwdwatch fwdwatch-fixtures fwdwatch-bench; do
    echo "building $product (swift build -c release)" >&2
    swift build -c release --product "$product" >&2
done
exec .build/release/fwdwatch-bench all "$@"
