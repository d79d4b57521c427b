#!/bin/bash
# Records the stack fixtures through the real tools, each rule set in a throwaway network namespace
# (nothing is ever loaded into the calling namespace). Run as root from anywhere: ./record.sh
#   <stack>/iptables-restore.txt -> <stack>/iptables-save.txt   iptables-nft-restore, then iptables-nft-save -c
#   <stack>/ruleset.nft          -> <stack>/nft-ruleset.json    nft -f, then nft -j list ruleset
#   <stack>/nft-ruleset.txt      -> <stack>/nft-ruleset.json    the same, for the team's recorded nft listings
# The recorded iptables-save.txt files copied from the team's shared data have no iptables-restore.txt and
# are left as they are. Needs iptables 1.8.9 (nf_tables) and nft 1.0.6 (Debian 12: apt-get install iptables nftables).
set -euo pipefail
cd "$(dirname "$0")"
source ../../../scripts/lib/common.sh
ns="fw-rec-$$"
trap delete_topology EXIT

fresh() { fresh_namespace "$ns"; }

for input in */iptables-restore.txt; do
    dir=$(dirname "$input")
    fresh
    ip netns exec "$ns" iptables-nft-restore < "$input"
    ip netns exec "$ns" iptables-nft-save -c | strip_save_dates > "$dir/iptables-save.txt"
    echo "recorded $dir/iptables-save.txt"
done

for input in */ruleset.nft */nft-ruleset.txt; do
    dir=$(dirname "$input")
    fresh
    ip netns exec "$ns" nft -f "$input"
    ip netns exec "$ns" nft -j list ruleset > "$dir/nft-ruleset.json"
    echo "recorded $dir/nft-ruleset.json"
done
