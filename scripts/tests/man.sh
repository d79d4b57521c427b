#!/usr/bin/env bash
# Checks the manual pages packaging/man/fwdwatch.8 and packaging/man/fwdwatch.toml.5:
#   - groff (-man -ww, and -Tutf8) and `man --warnings -l` render them without a single warning;
#   - every subcommand that `fwdwatch --help` lists, and every option each `fwdwatch <sub> --help` lists,
#     is documented in fwdwatch(8) under that subcommand; every rule `fwdwatch rules` lists is in RULES
#     with its default severity; every journal field the journal module sets is in JOURNAL FIELDS;
#   - every table and key ConfigurationParser.swift accepts is in fwdwatch.toml(5), with the number ranges
#     the parser enforces;
#   - the version in .TH is `fwdwatch --version`.
# The lists come from the source and the binary, so the pages cannot silently go stale.
# Uses $FWDWATCH, else .build/debug/fwdwatch (built when missing). Exits 1 on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1

failures=0
checks=0
pass() { checks=$((checks + 1)); }
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAIL: $*"
}

source scripts/lib/common.sh
install_missing man-db groff-base || { echo "man.sh: FAIL (cannot install man-db/groff-base)"; exit 1; }
use_swift

fwdwatch=${FWDWATCH:-$repo/.build/debug/fwdwatch}
if [[ ! -x $fwdwatch ]]; then
    echo "man.sh: building $fwdwatch"
    swift build --product fwdwatch >/dev/null || { echo "man.sh: FAIL (swift build)"; exit 1; }
fi

# MAN8/MAN5 point at other copies of the pages (to see the checks fail on a stale page).
page8=${MAN8:-packaging/man/fwdwatch.8}
page5=${MAN5:-packaging/man/fwdwatch.toml.5}
work=$(mktemp -d /tmp/fwdwatch-man.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Rendered text as a reader sees it at 80 columns (no hyphenation: the pages set .nh), without overstrike.
render() { MANWIDTH=80 man -l "$1" 2>/dev/null | col -bx; }

# The text of one section (a line at column 0) or subsection (3 spaces), up to the next heading of that level
# or above.
section() {
    local file=$1 heading=$2
    awk -v heading="$heading" '
        function level(line) { if (line ~ /^[A-Z\[]/) return 1; if (line ~ /^   [^ ]/) return 2; return 0 }
        inside && level($0) > 0 && level($0) <= depth { exit }
        inside { print }
        !inside && ($0 == heading || $0 == "   " heading) { inside = 1; depth = level($0) }
    ' "$file"
}

# Whether $2 occurs in file $1 as a whole word (not inside a longer option or key).
has_word() { grep -qE -- "(^|[^A-Za-z0-9_-])$(sed 's/[][\.*^$()|+?{}]/\\&/g' <<<"$2")([^A-Za-z0-9_-]|$)" "$1"; }

echo "== rendering without warnings"
for page in "$page8" "$page5"; do
    for command in "groff -man -ww -z $page" "groff -man -Tutf8 -ww -z $page" "man --warnings -l $page"; do
        output=$(MANWIDTH=80 $command 2>&1 >/dev/null)
        if [[ -n $output ]]; then fail "$command warns: $output"; else pass; fi
        echo "  $command: ${output:-no warnings}"
    done
done
render "$page8" >"$work/fwdwatch.8.txt"
render "$page5" >"$work/fwdwatch.toml.5.txt"
for text in "$work/fwdwatch.8.txt" "$work/fwdwatch.toml.5.txt"; do
    lines=$(wc -l <"$text")
    if ((lines < 50)); then fail "$(basename "$text" .txt) renders to only $lines lines"; else pass; fi
done

echo "== version"
version=$("$fwdwatch" --version)
for page in "$page8" "$page5"; do
    if grep -q "^\.TH .*\"fwdwatch $version\"" "$page"; then
        pass
        echo "  $page: .TH says fwdwatch $version"
    else
        fail "$page: .TH does not say \"fwdwatch $version\" (fwdwatch --version)"
    fi
done

echo "== fwdwatch(8) sections"
for heading in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" SIGNALS FILES RULES "JOURNAL FIELDS" EXAMPLES "SEE ALSO"; do
    if grep -qx "$heading" "$work/fwdwatch.8.txt"; then pass; else fail "fwdwatch(8) has no section $heading"; fi
done
echo "  checked 11 sections"

echo "== subcommands and options (from fwdwatch --help)"
subcommands=$("$fwdwatch" --help | awk '/^SUBCOMMANDS:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
if [[ -z $subcommands ]]; then fail "fwdwatch --help lists no subcommands"; fi
for sub in $subcommands; do
    section "$work/fwdwatch.8.txt" "fwdwatch $sub" >"$work/sub-$sub.txt"
    if [[ ! -s $work/sub-$sub.txt ]]; then
        fail "fwdwatch(8) has no subsection \"fwdwatch $sub\" under COMMANDS"
        continue
    fi
    pass
    if grep -q "fwdwatch $sub" <(section "$work/fwdwatch.8.txt" SYNOPSIS); then pass; else fail "SYNOPSIS lacks fwdwatch $sub"; fi
    # Every long and short option of the subcommand, except the ones every command has.
    options=$("$fwdwatch" "$sub" --help | awk '/^OPTIONS:/ { on = 1; next } on' |
        grep -oE '^  +(-[a-z], )?--[a-z][a-z-]*' | tr ', ' '\n\n' | grep -v '^$' | grep -vxE -- '--version|--help|-h' || true)
    documented=()
    for option in $options; do
        if has_word "$work/sub-$sub.txt" "$option"; then
            pass
            documented+=("$option")
        else
            fail "fwdwatch(8): option $option of fwdwatch $sub is not documented under \"fwdwatch $sub\""
        fi
    done
    echo "  fwdwatch $sub: documented, options: ${documented[*]:-none}"
done
for option in --version --help -h --generate-completion-script; do
    if has_word "$work/fwdwatch.8.txt" "$option"; then pass; else fail "fwdwatch(8) does not document $option"; fi
done

echo "== exit status"
section "$work/fwdwatch.8.txt" "EXIT STATUS" >"$work/exit.txt"
for code in 0 1 2 3 64; do
    if grep -qE "(^|[^0-9])$code([^0-9]|$)" "$work/exit.txt"; then pass; else fail "EXIT STATUS does not mention $code"; fi
done
# The page's codes must be the binary's: a usage error really exits 64, an unreadable config really 3.
"$fwdwatch" check --no-such-option >/dev/null 2>&1
status=$?
if [[ $status == 64 ]]; then pass; else fail "fwdwatch check --no-such-option exited $status, the page says 64"; fi
printf '[no-such-table]\n' >"$work/bad.toml"
"$fwdwatch" check --sample 0 --config "$work/bad.toml" >/dev/null 2>&1
status=$?
if [[ $status == 3 ]]; then pass; else fail "fwdwatch check with an invalid config exited $status, the pages say 3"; fi
echo "  0 1 2 3 64 documented; usage error exits 64, invalid configuration exits 3"

echo "== rules (from fwdwatch rules)"
section "$work/fwdwatch.8.txt" RULES >"$work/rules.txt"
rule_count=0
while read -r id severity _; do
    rule_count=$((rule_count + 1))
    if grep -qE "^ +$id \($severity" "$work/rules.txt"; then
        pass
    else
        fail "RULES: no entry \"$id ($severity...)\""
    fi
done < <("$fwdwatch" rules)
if ((rule_count < 10)); then fail "fwdwatch rules listed only $rule_count rules"; fi
echo "  $rule_count rules, each with its default severity"

echo "== journal fields (from Sources/FwdwatchJournal and Sources/FwdwatchDaemon)"
section "$work/fwdwatch.8.txt" "JOURNAL FIELDS" >"$work/fields.txt"
fields=$(grep -ohE '"(MESSAGE|PRIORITY|MESSAGE_ID|IFACE|SYSLOG_IDENTIFIER|CONFIG_[A-Z]+|CODE_[A-Z]+|FWDWATCH_[A-Z_]+)"' \
    Sources/FwdwatchJournal/*.swift Sources/FwdwatchDaemon/*.swift | tr -d '"' | grep -v '_$' | sort -u)
field_count=0
for field in $fields; do
    field_count=$((field_count + 1))
    if has_word "$work/fields.txt" "$field"; then pass; else fail "JOURNAL FIELDS does not document $field"; fi
done
if ((field_count < 15)); then fail "found only $field_count journal field names in the source"; fi
if grep -q 'FWDWATCH_NAME' "$work/fields.txt"; then pass; else fail "JOURNAL FIELDS does not explain evidence fields FWDWATCH_<NAME>"; fi
echo "  $field_count fields: $(tr '\n' ' ' <<<"$fields")"

echo "== files"
for path in /etc/fwdwatch/fwdwatch.toml /lib/systemd/system/fwdwatch.service /usr/lib/systemd/catalog/fwdwatch.catalog; do
    if has_word <(section "$work/fwdwatch.8.txt" FILES) "$path"; then pass; else fail "FILES lacks $path"; fi
done
for command in "journalctl -u fwdwatch -x" "fwdwatch check"; do
    if grep -qF -- "$command" <(section "$work/fwdwatch.8.txt" EXAMPLES); then pass; else fail "EXAMPLES lacks $command"; fi
done
echo "  configuration, unit, catalog; examples journalctl -u fwdwatch -x and fwdwatch check"

echo "== fwdwatch.toml(5) tables and keys (from ConfigurationParser.swift)"
parser=Sources/FwdwatchConfig/ConfigurationParser.swift
tables=$(awk '/func configuration\(from/ { on = 1 } on && /mutating func rules/ { exit } on' "$parser" |
    grep -oE 'case "[a-z-]+"' | cut -d'"' -f2)
keys=$( (awk '/mutating func rules/ { on = 1 } on && /func strings/ { exit } on' "$parser" |
    grep -oE 'case "[a-z-]+"|key == "[a-z-]+"' | cut -d'"' -f2) | sort -u)
if [[ -z $tables || -z $keys ]]; then fail "could not read the tables and keys out of $parser"; fi
for table in $tables; do
    if grep -qx "\[$table\]" "$work/fwdwatch.toml.5.txt"; then pass; else fail "fwdwatch.toml(5) has no section [$table]"; fi
done
if grep -qx '\[rules.severity\]' "$work/fwdwatch.toml.5.txt"; then pass; else fail "fwdwatch.toml(5) has no [rules.severity]"; fi
for key in $keys; do
    if has_word "$work/fwdwatch.toml.5.txt" "$key"; then pass; else fail "fwdwatch.toml(5) does not document key $key"; fi
done
echo "  tables: $(tr '\n' ' ' <<<"$tables")"
echo "  keys: $(tr '\n' ' ' <<<"$keys")"

# The number ranges the parser enforces, as the page states them: "<key> (number from A to B".
plain() { sed -e 's/_//g' -e 's/\.0$//' <<<"$1"; }
ranges=0
for key in $keys; do
    range=$(grep -A1 "case \"$key\":" "$parser" | grep -oE 'in: [0-9._]+\.\.\.[0-9._]+' | head -1)
    [[ -n $range ]] || continue
    low=$(plain "${range#in: }")
    low=$(plain "${low%%...*}")
    high=$(plain "${range##*...}")
    ranges=$((ranges + 1))
    if grep -qE "^ +$key \(number from ${low} to ${high}[;)]" "$work/fwdwatch.toml.5.txt"; then
        pass
    else
        fail "fwdwatch.toml(5): $key should say \"(number from $low to $high\" as the parser does"
    fi
done
conntrack_range=$(grep -oE 'number\(value, "conntrack", key, in: [0-9.]+\.\.\.[0-9.]+' "$parser" | grep -oE '[0-9.]+\.\.\.[0-9.]+')
if [[ -n $conntrack_range ]]; then
    low=$(plain "${conntrack_range%%...*}")
    high=$(plain "${conntrack_range##*...}")
    for key in warning-fill critical-fill; do
        ranges=$((ranges + 1))
        if grep -qE "^ +$key \(number from $low to $high;" "$work/fwdwatch.toml.5.txt"; then pass; else fail "fwdwatch.toml(5): $key range is not $low to $high"; fi
    done
fi
echo "  $ranges number ranges match the parser"

for heading in NAME SYNOPSIS DESCRIPTION ERRORS EXAMPLES "SEE ALSO"; do
    if grep -qx "$heading" "$work/fwdwatch.toml.5.txt"; then pass; else fail "fwdwatch.toml(5) has no section $heading"; fi
done

echo
echo "man.sh: $((checks - failures)) passed, $failures failed"
((failures == 0))
