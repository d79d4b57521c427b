#!/usr/bin/env bash
# The soak's short form for the test command: 60 s of random churn under `fwdwatch run` in namespaces it
# creates, with the daemon == check invariant at a random checkpoint and at the end, flat RSS, no descriptor
# leak, no missed watchdog, a clean stop (scripts/soak.sh has the details; the long form is
# `bash scripts/soak.sh --duration 1800`). Skips when not root. About 75 s.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
exec bash scripts/soak.sh --duration "${SOAK_SHORT_SECONDS:-60}"
