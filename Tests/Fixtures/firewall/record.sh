#!/bin/bash
# Records the firewall fixtures from real tools, each in a throwaway network namespace:
#   iptables-nft-save-c.txt     Docker 20.10's rules (../stacks/docker-20.10/iptables-save.txt) restored with
#                               iptables-restore (nf_tables), one TCP attempt to the published port sent
#                               through nat OUTPUT, then `iptables-save -c`.
#   iptables-legacy-save-c.txt  the same with iptables-legacy-restore / iptables-legacy-save -c
#                               (the userland-proxy=false variant).
#   nft-docker-bridges.json     docker-bridges.nft (native nftables, Docker's rules) loaded with nft -f,
#                               the same TCP attempt, then `nft -j list ruleset`.
#   nft-edge-cases.json         edge-cases.nft (sets, ranges, vmap, snat, goto, reject, limit).
#   nft-vmaps.json              vmaps.nft (verdict maps: by interface, a concatenation, a named map).
#   nft-with-iptables-nft.json  ../stacks/docker-20.10/iptables-save.txt via iptables-nft plus docker-bridges.nft:
#                               the ip filter/nat tables there are iptables-nft's (xt compat expressions).
# Run as root from this directory: ./record.sh
set -euo pipefail
cd "$(dirname "$0")"
source ../../../scripts/lib/common.sh
ns="fwrec-$$"
trap delete_topology EXIT

fresh() {
    fresh_namespace "$ns"
    ip -n "$ns" address add 192.0.2.10/32 dev lo
}
# One connection attempt to the published port from the host itself: nat OUTPUT -> DOCKER -> DNAT.
knock() { ip netns exec "$ns" timeout 2 bash -c 'echo > /dev/tcp/192.0.2.10/10001' 2>/dev/null || true; }

fresh
ip netns exec "$ns" iptables-nft-restore < ../stacks/docker-20.10/iptables-save.txt
knock
ip netns exec "$ns" iptables-nft-save -c | strip_save_dates > iptables-nft-save-c.txt

fresh
ip netns exec "$ns" iptables-legacy-restore < ../stacks/docker-20.10/iptables-save-userland-proxy-false.txt
knock
ip netns exec "$ns" iptables-legacy-save -c | strip_save_dates > iptables-legacy-save-c.txt

fresh
ip netns exec "$ns" nft -f docker-bridges.nft
knock
ip netns exec "$ns" nft -j list ruleset > nft-docker-bridges.json

fresh
ip netns exec "$ns" nft -f edge-cases.nft
ip netns exec "$ns" nft -j list ruleset > nft-edge-cases.json

fresh
ip netns exec "$ns" nft -f vmaps.nft
ip netns exec "$ns" nft -j list ruleset > nft-vmaps.json

fresh
ip netns exec "$ns" iptables-nft-restore < ../stacks/docker-20.10/iptables-save.txt
ip netns exec "$ns" nft -f docker-bridges.nft
ip netns exec "$ns" nft -j list ruleset > nft-with-iptables-nft.json
echo recorded
