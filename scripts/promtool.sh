#!/usr/bin/env bash
# Prints the path of a promtool binary (Prometheus' rule checker and rule unit-test runner).
#
#   promtool=$(bash scripts/promtool.sh) && "$promtool" test rules packaging/prometheus/fwdwatch-alerts.test.yml
#
# 1. promtool on PATH: its path.
# 2. else a copy unpacked earlier in /tmp/fwdwatch-promtool: that one (quick the second time).
# 3. else Debian's `prometheus` package is downloaded (`apt-get download`, into a temporary folder) and unpacked
#    with `dpkg -x` into /tmp/fwdwatch-promtool — NOT installed: no service starts, dpkg's database is untouched.
#    If the download fails, `apt-get update` runs once and the download is retried.
# Concurrent callers wait for one fetch (flock on /tmp/fwdwatch-promtool.lock). Progress goes to stderr; stdout
# carries only the path. Exits 1 when no promtool can be had.
set -euo pipefail

unpacked=/tmp/fwdwatch-promtool
binary=$unpacked/usr/bin/promtool

if found=$(command -v promtool 2>/dev/null); then
    echo "$found"
    exit 0
fi
if [[ -x $binary ]] && "$binary" --version >/dev/null 2>&1; then
    echo "$binary"
    exit 0
fi

# One fetch at a time (tests may ask at once); whoever waited finds the result of the first.
exec 9>"$unpacked.lock"
flock 9
if [[ -x $binary ]] && "$binary" --version >/dev/null 2>&1; then
    echo "$binary"
    exit 0
fi

download=$(mktemp -d /tmp/fwdwatch-promtool-download.XXXXXX)
trap 'rm -rf "$download"' EXIT
# apt-get download writes into the current folder; as root it drops privileges to _apt, which must be able to write.
chmod 0777 "$download"
fetch() { (cd "$download" && apt-get download -q prometheus >&2); }
if ! fetch; then
    echo "promtool.sh: apt-get download prometheus failed; running apt-get update and retrying" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
    if ! fetch; then
        echo "promtool.sh: cannot download Debian's prometheus package" >&2
        exit 1
    fi
fi

shopt -s nullglob
packages=("$download"/prometheus_*.deb)
if ((${#packages[@]} != 1)); then
    echo "promtool.sh: expected one prometheus_*.deb in $download, found ${#packages[@]}" >&2
    exit 1
fi
# Unpack beside the final folder and move it into place, so an interrupted run never leaves a half tree there.
staging=$(mktemp -d /tmp/fwdwatch-promtool-staging.XXXXXX)
if ! dpkg -x "${packages[0]}" "$staging"; then
    rm -rf "$staging"
    echo "promtool.sh: dpkg -x ${packages[0]} failed" >&2
    exit 1
fi
rm -rf "$unpacked"
mv "$staging" "$unpacked"
chmod 0755 "$unpacked"

if ! "$binary" --version >/dev/null 2>&1; then
    echo "promtool.sh: $binary does not run" >&2
    exit 1
fi
echo "promtool.sh: unpacked $(basename "${packages[0]}") into $unpacked (not installed)" >&2
echo "$binary"
