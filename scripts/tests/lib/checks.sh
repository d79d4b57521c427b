# Sourced by the scripts in scripts/tests/: counts checks and failures, prints each check's outcome.
# The script prints its own summary from $checks and $failures and exits non-zero when $failures > 0.
failures=0
checks=0
pass() {
    checks=$((checks + 1))
    echo "  ok: $*"
}
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "  FAIL: $*"
}
