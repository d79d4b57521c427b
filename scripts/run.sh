#!/usr/bin/env bash
# Builds fwdwatch in release mode and runs the daemon in the foreground, logging to the console.
# Ctrl-C stops it. Extra arguments go to `fwdwatch run` (e.g. --config /etc/fwdwatch/fwdwatch.toml).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(libnl-route-3-dev libsystemd-dev pkg-config iproute2 iptables nftables systemd systemd-container procps man-db)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

swift build -c release >&2
exec .build/release/fwdwatch run --log-target console "$@"
