#!/usr/bin/env bash
# Fuzz smoke test for the test command: builds the libFuzzer targets (Fuzz/, into .build-fuzz/), replays every
# seed (Fuzz/corpus/*, including the inputs that once crashed fwdwatch, and the test fixtures) through its target,
# then fuzzes each target for FUZZ_SMOKE_SECONDS (default 5). Fails on any crash, timeout or leak of memory
# past the limit. About 2 minutes from a cold .build-fuzz, under 1 minute warm. The long runs are
# `bash scripts/fuzz.sh [SECONDS-PER-TARGET]`; Fuzz/README.md explains the build.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
exec bash scripts/fuzz.sh --smoke "${FUZZ_SMOKE_SECONDS:-5}"
