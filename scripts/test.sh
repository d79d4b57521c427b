#!/usr/bin/env bash
# Builds fwdwatch and runs every test suite. Meant for root on Debian 12 (the integration tests create
# network namespaces and skip themselves when not root).
#   1. installs the system packages it needs when missing (apt-get; quick when all are present),
#   2. swift build, swift build --build-tests,
#   3. swift test --skip-build: unit tests in parallel, integration tests one at a time,
#   4. each scripts/tests/*.sh, if any.
# Exits non-zero if any step fails and prints a one-line summary at the end.
# Extra arguments go to `swift test` (e.g. --filter ProcReader).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/common.sh

step() { printf '\n==> %s\n' "$*"; }
summary() { printf '\n%s\n' "$*"; }

step "system packages"
if ! install_missing "${build_packages[@]}" "${runtime_packages[@]}" "${test_packages[@]}"; then
    summary "test.sh: FAIL (system packages could not be installed)"
    exit 1
fi

use_swift
if [[ $(id -u) -ne 0 ]]; then
    echo "note: not root; the namespace and journald tests will be skipped" >&2
fi

step "swift build"
if ! swift build; then
    summary "test.sh: FAIL (swift build)"
    exit 1
fi

step "swift build --build-tests"
if ! swift build --build-tests; then
    summary "test.sh: FAIL (swift build --build-tests)"
    exit 1
fi

failures=()
passes=()

if (($# > 0)); then
    step "swift test $*"
    if swift test --skip-build "$@"; then passes+=("swift test"); else failures+=("swift test"); fi
else
    # The pure unit tests (every test target but the integration one: one per module) run in parallel. The
    # integration tests run one at a time: they drive the real kernel, journald and systemd with deadlines, and on
    # two cores parallel namespaces starve each other.
    step "swift test (unit tests)"
    if swift test --skip-build --parallel --skip FwdwatchIntegrationTests; then
        passes+=("unit tests")
    else
        failures+=("unit tests")
    fi
    step "swift test (integration tests, one at a time)"
    if swift test --skip-build --no-parallel --filter FwdwatchIntegrationTests; then
        passes+=("integration tests")
    else
        failures+=("integration tests")
    fi
fi

shopt -s nullglob
suites=(scripts/tests/*.sh)
for suite in "${suites[@]}"; do
    step "$suite"
    if bash "$suite"; then
        passes+=("$suite")
    else
        failures+=("$suite")
    fi
done

if ((${#failures[@]} > 0)); then
    summary "test.sh: FAIL (failed: ${failures[*]}; passed: ${passes[*]:-none})"
    exit 1
fi
summary "test.sh: PASS (build ok; passed: ${passes[*]})"
