#!/bin/bash
# Validates the FwdwatchFixtures generators against the real tools: writes small samples of their output
# (through the test GeneratorTests/writeSamples), loads each into a throwaway network namespace
# (iptables-nft-restore, nft -f), and keeps what the tools list back:
#   docker-20.10-iptables.txt -> docker-20.10-iptables.save.txt   (iptables-nft-save -c)
#   kube-proxy-iptables.txt   -> kube-proxy-iptables.save.txt     (iptables-nft-save -c)
#   kube-proxy.nft            -> kube-proxy.json                  (nft -j list ruleset; read by GeneratorTests)
# A tool that refuses a sample fails the script. Run as root after `swift build --build-tests`: ./validate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
source "$root/scripts/lib/common.sh"
ns="fw-gen-$$"
trap delete_topology EXIT
(cd "$root" && FWDWATCH_WRITE_GENERATED="$here" swift test --skip-build --filter "writeSamples" >/dev/null)

fresh() { fresh_namespace "$ns"; }

for sample in docker-20.10-iptables kube-proxy-iptables; do
    fresh
    ip netns exec "$ns" iptables-nft-restore < "$here/$sample.txt"
    ip netns exec "$ns" iptables-nft-save -c | strip_save_dates > "$here/$sample.save.txt"
    echo "iptables-nft-restore accepted $sample.txt ($(grep -c '^\[' "$here/$sample.save.txt") rules)"
done
fresh
ip netns exec "$ns" nft -f "$here/kube-proxy.nft"
ip netns exec "$ns" nft -j list ruleset > "$here/kube-proxy.json"
echo "nft -f accepted kube-proxy.nft"

