#!/usr/bin/env bash
# Builds fwdwatch in release mode and runs the daemon in the foreground, logging to the console.
# Ctrl-C stops it. Extra arguments go to `fwdwatch run` (e.g. --config /etc/fwdwatch/fwdwatch.toml).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/common.sh

install_missing "${build_packages[@]}" "${runtime_packages[@]}"
use_swift

swift build -c release >&2
exec .build/release/fwdwatch run --log-target console "$@"
