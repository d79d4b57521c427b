#!/usr/bin/env bash
# End-to-end test of the Debian package in a throwaway systemd container.
#
#  1. builds the package twice with scripts/build-deb.sh (once as `fwdwatch --version`, once with a bumped
#     version for the upgrade; the release build is incremental, so the second costs only the packaging);
#  2. boots the host's own systemd as PID 1 in `systemd-nspawn --boot` on a throwaway root: an overlayfs whose
#     lower layer is the host's / and whose upper layer is a tmpfs this script mounts and discards
#     (`--volatile=overlay` refuses --directory=/ with systemd 252: "Spawning container on root directory is not
#     supported"). The host's /usr/sbin/policy-rc.d (exit 101, a Docker-image habit that forbids starting
#     services) is removed in the container only, so that the package behaves as on a normal Debian system;
#  3. in the container: dpkg -i; the service is enabled and active; `fwdwatch check` runs; `man -w` finds both
#     pages; the catalog is listed by `journalctl --list-catalog` and explains the daemon's start entry under
#     `journalctl -x`; bash completion loads; the conffile is edited; dpkg -i of the bumped version keeps the
#     edit and restarts the service; dpkg -r stops it and removes every file but the conffile; dpkg -P removes
#     /etc/fwdwatch and the enablement, and no file of `dpkg -L` is left;
#  4. powers the container off by PID (always, also on failure), unmounts the layers, and verifies that the host
#     was not touched (dpkg database, /usr/bin/fwdwatch, /etc/fwdwatch, a probe file written in the container).
# Needs root (skips otherwise). Exits 1 on any failed check. Prints each check and the time of each stage.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1

if [[ $(id -u) -ne 0 ]]; then
    echo "deb.sh: SKIP (needs root: dpkg and systemd-nspawn)"
    exit 0
fi

started=$SECONDS
stage_started=$SECONDS
source "$repo/scripts/tests/lib/checks.sh"
source "$repo/scripts/lib/common.sh"
stage() {
    echo "   ($((SECONDS - stage_started)) s)"
    stage_started=$SECONDS
    echo "== $*"
}
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds.
    local description=$1
    shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}

install_missing systemd-container util-linux dpkg >/dev/null

work=$(mktemp -d /tmp/fwdwatch-debtest.XXXXXX)
layer="$work/layer"
root="$layer/merged"
nspawn_pid=
container_pid=
machine="fwdwatch-deb-$$"
probe="/fwdwatch-deb-probe-$$"

# --- the host before, to prove afterwards that nothing changed -----------------------------------------------
host_state() {
    {
        md5sum /var/lib/dpkg/status
        dpkg-query -W -f='${Status} ${Version}\n' fwdwatch 2>&1
        ls -d /usr/bin/fwdwatch /etc/fwdwatch /usr/lib/systemd/catalog/fwdwatch.catalog \
            /etc/systemd/system/multi-user.target.wants/fwdwatch.service "$probe" 2>&1
        ls -la /usr/sbin/policy-rc.d 2>&1
    } | sort
}
power_off() {
    if [[ -n $container_pid ]] && kill -0 "$container_pid" 2>/dev/null; then
        kill -s SIGRTMIN+4 "$container_pid" 2>/dev/null # systemd: poweroff
    fi
    if [[ -n $nspawn_pid ]]; then
        local deadline=$((SECONDS + 20))
        while kill -0 "$nspawn_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            echo "  container did not power off within 20 s: terminating systemd-nspawn $nspawn_pid"
            kill "$nspawn_pid" 2>/dev/null
            sleep 2
            kill -9 "$nspawn_pid" 2>/dev/null
        fi
        wait "$nspawn_pid" 2>/dev/null
        nspawn_pid=
    fi
}
cleanup() {
    power_off
    mountpoint -q "$root" && umount "$root"
    mountpoint -q "$layer" && umount "$layer"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- 1. build ------------------------------------------------------------------------------------------------
echo "== build the package (scripts/build-deb.sh)"
mkdir -p "$work/pkg"
if ! first=$(OUTDIR="$work/pkg" bash scripts/build-deb.sh 2>"$work/build.log"); then
    tail -30 "$work/build.log"
    echo "deb.sh: FAIL (scripts/build-deb.sh)"
    exit 1
fi
version=$(dpkg-deb -f "$first" Version)
upgrade_version="$version+upgrade1"
if ! second=$(VERSION="$upgrade_version" OUTDIR="$work/pkg" bash scripts/build-deb.sh 2>>"$work/build.log"); then
    tail -30 "$work/build.log"
    echo "deb.sh: FAIL (scripts/build-deb.sh, VERSION=$upgrade_version)"
    exit 1
fi
check "built $(basename "$first") and $(basename "$second")" test -s "$first" -a -s "$second"
check "package name is fwdwatch_<fwdwatch --version>_<arch>.deb" \
    test "$(basename "$first")" = "fwdwatch_$(.build-deb/release/fwdwatch --version)_$(dpkg --print-architecture).deb"
needed=$(readelf -d .build-deb/release/fwdwatch | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
if grep -q 'libswift' <<<"$needed"; then fail "binary needs the Swift runtime: $needed"; else pass "no libswift*.so needed ($needed)"; fi
contents=$(dpkg-deb -c "$first" | awk '{ print $6 }')
for path in ./usr/bin/fwdwatch ./lib/systemd/system/fwdwatch.service ./usr/lib/systemd/catalog/fwdwatch.catalog \
    ./etc/fwdwatch/fwdwatch.toml ./usr/share/man/man8/fwdwatch.8.gz ./usr/share/man/man5/fwdwatch.toml.5.gz \
    ./usr/share/bash-completion/completions/fwdwatch ./usr/share/zsh/vendor-completions/_fwdwatch \
    ./usr/share/fish/vendor_completions.d/fwdwatch.fish ./usr/share/fwdwatch/prometheus/fwdwatch-alerts.yml \
    ./usr/share/doc/fwdwatch/copyright ./usr/share/doc/fwdwatch/examples/repair.conf \
    ./usr/share/doc/fwdwatch/examples/textfile.conf ./usr/share/doc/fwdwatch/examples/drops.conf \
    ./usr/share/doc/fwdwatch/changelog.Debian.gz; do
    if grep -qx -- "$path" <<<"$contents"; then pass "package contains ${path#.}"; else fail "package lacks ${path#.}"; fi
done
check "conffiles lists /etc/fwdwatch/fwdwatch.toml" \
    bash -c "dpkg-deb --ctrl-tarfile '$first' | tar -xO ./conffiles | grep -qx /etc/fwdwatch/fwdwatch.toml"
depends=$(dpkg-deb -f "$first" Depends)
for library in libnl-route-3-200 libnl-3-200 libsystemd0 libbpf1 libc6; do
    if grep -q "$library" <<<"$depends"; then pass "Depends names $library"; else fail "Depends lacks $library: $depends"; fi
done

install_missing lintian >/dev/null 2>&1
if command -v lintian >/dev/null 2>&1; then
    # lintian refuses nothing as root but says it is not recommended; run it as nobody on a readable copy.
    cp "$first" "$work/lintian.deb" && chmod 0755 "$work" && chmod 0644 "$work/lintian.deb"
    report=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp lintian -I --pedantic "$work/lintian.deb" 2>&1)
    echo "$report" | sed 's/^/  lintian: /'
    if grep -q '^E: ' <<<"$report"; then fail "lintian reports errors"; else pass "lintian reports no errors"; fi
else
    fail "lintian could not be installed"
fi

# --- 2. a throwaway root and a booted container ----------------------------------------------------------------
# Taken after the build and lintian, which may install their tools with apt-get (a fresh machine has neither
# debhelper nor lintian): what must not change is what the container's install, upgrade and purge could touch.
host_before=$(host_state)
stage "boot a throwaway systemd container (overlayfs over /, tmpfs upper layer)"
mkdir -p "$layer"
if ! mount -t tmpfs -o size=4g,mode=0755 "fwdwatch-deb-$$" "$layer" ||
    ! mkdir -p "$layer/upper" "$layer/work" "$root" ||
    ! mount -t overlay overlay -o "lowerdir=/,upperdir=$layer/upper,workdir=$layer/work" "$root"; then
    echo "deb.sh: FAIL (cannot mount the overlay root)"
    exit 1
fi
rm -f "$root/usr/sbin/policy-rc.d" # in the upper layer only: a whiteout
machine_id=$(tr -d '-' </proc/sys/kernel/random/uuid)
echo "$machine_id" >"$work/machine-id"
uuid=$(sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/' <<<"$machine_id")
systemd-nspawn --directory="$root" --register=no --keep-unit --boot --private-network \
    --machine="$machine" --uuid="$uuid" \
    --bind-ro="$work/machine-id:/etc/machine-id" --bind-ro="$work/pkg:/pkg" \
    systemd.firstboot=off systemd.mask=nftables.service systemd.mask=systemd-networkd-wait-online.service \
    systemd.mask=systemd-machine-id-commit.service \
    $(for unit in docker.service docker.socket containerd.service podman.service podman.socket podman-restart.service \
        podman-auto-update.service podman-auto-update.timer lxc.service lxc-net.service lxc-monitord.service ufw.service \
        firewalld.service libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket virtlogd.socket \
        virtlockd.socket; do printf 'systemd.mask=%s ' "$unit"; done) </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
deadline=$((SECONDS + 30))
while [[ -z $container_pid ]] && ((SECONDS < deadline)) && kill -0 "$nspawn_pid" 2>/dev/null; do
    for child in $(pgrep -P "$nspawn_pid"); do
        [[ $(cat "/proc/$child/comm" 2>/dev/null) == systemd ]] && container_pid=$child
    done
    [[ -n $container_pid ]] || sleep 0.1
done
if [[ -z $container_pid ]]; then
    tail -20 "$work/console.log"
    echo "deb.sh: FAIL (the container did not start)"
    exit 1
fi

# A command in the container, with the container's own clean environment.
in_container() { nsenter -t "$container_pid" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# A command as a transient unit of the container's systemd (dpkg: maintainer scripts run as on a real host).
as_unit() { in_container systemd-run --wait --pipe --quiet --setenv=DEBIAN_FRONTEND=noninteractive "$@" </dev/null; }

# PID 1 exists before its private bus socket does: wait for the socket, then for the boot to finish.
deadline=$((SECONDS + 30))
until in_container test -S /run/systemd/private 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.1; done
state=$(in_container timeout 30 systemctl is-system-running --wait 2>&1)
if [[ $state == running || $state == degraded ]]; then
    pass "container booted (pid 1 is host pid $container_pid, state $state)"
else
    fail "container did not finish booting: $state"
fi
check "policy-rc.d is gone in the container only" test ! -e "$root/usr/sbin/policy-rc.d" -a -e /usr/sbin/policy-rc.d
in_container touch "$probe"
check "a file written in the container does not appear on the host" test ! -e "$probe"

# --- 3. install ----------------------------------------------------------------------------------------------
stage "install $(basename "$first")"
if as_unit dpkg -i "/pkg/$(basename "$first")" >"$work/install.log" 2>&1; then pass "dpkg -i"; else
    cat "$work/install.log"
    fail "dpkg -i"
fi
check "package installed at $version" test "$(in_container dpkg-query -W -f='${Status} ${Version}' fwdwatch)" = "install ok installed $version"
check "service enabled (systemctl is-enabled)" test "$(in_container systemctl is-enabled fwdwatch 2>&1)" = enabled
active=$(in_container systemctl is-active fwdwatch 2>&1)
if [[ $active == active ]]; then pass "service active (systemctl is-active)"; else
    in_container systemctl status fwdwatch --no-pager
    fail "service is $active, not active"
fi
first_pid=$(in_container systemctl show -p MainPID --value fwdwatch)
status=$(in_container systemctl show -p StatusText --value fwdwatch)
echo "  service main pid $first_pid, status: $status"
check "the host has no /usr/bin/fwdwatch while the container has it" test ! -e /usr/bin/fwdwatch -a -x "$root/usr/bin/fwdwatch"

in_container fwdwatch check --sample 0 >"$work/check.out" 2>&1
code=$?
if ((code <= 2)) && grep -q '^fwdwatch: ' "$work/check.out"; then
    pass "fwdwatch check runs (exit $code: $(head -1 "$work/check.out"))"
else
    cat "$work/check.out"
    fail "fwdwatch check exited $code"
fi
check "fwdwatch --version is $(.build-deb/release/fwdwatch --version)" \
    test "$(in_container fwdwatch --version)" = "$(.build-deb/release/fwdwatch --version)"
check "man -w fwdwatch finds /usr/share/man/man8/fwdwatch.8.gz" \
    test "$(in_container man -w fwdwatch 2>&1)" = /usr/share/man/man8/fwdwatch.8.gz
check "man -w 5 fwdwatch.toml finds /usr/share/man/man5/fwdwatch.toml.5.gz" \
    test "$(in_container man -w 5 fwdwatch.toml 2>&1)" = /usr/share/man/man5/fwdwatch.toml.5.gz
check "man fwdwatch renders the page" \
    bash -c "nsenter -t $container_pid -a env -i PATH=/usr/bin:/bin MANWIDTH=80 man fwdwatch 2>/dev/null | grep -q 'EXIT STATUS'"
if [[ -f packaging/catalog/fwdwatch.catalog ]]; then
    catalog_entries=$(grep -c '^-- [0-9a-f]\{32\}' packaging/catalog/fwdwatch.catalog)
    listed=$(in_container journalctl --list-catalog 2>/dev/null | grep -ci fwdwatch)
    if ((listed >= catalog_entries)); then
        pass "journalctl --list-catalog lists the fwdwatch entries ($listed lines, $catalog_entries catalog entries)"
    else
        fail "journalctl --list-catalog lists $listed fwdwatch lines, the catalog has $catalog_entries entries"
    fi
    started_id=$(sed -n 's/.*static let started = "\([0-9a-f]\{32\}\)".*/\1/p' Sources/FwdwatchJournal/JournalMessageID.swift)
    explained=
    deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        explained=$(in_container journalctl -x --no-pager -u fwdwatch "MESSAGE_ID=$started_id" 2>/dev/null)
        grep -q 'Subject: ' <<<"$explained" && break
        sleep 0.2
    done
    if grep -q 'Subject: ' <<<"$explained"; then
        pass "journalctl -x -u fwdwatch explains the start entry: $(grep -m1 'Subject: ' <<<"$explained" | sed 's/.*Subject: //')"
    else
        echo "$explained" | tail -5
        fail "journalctl -x -u fwdwatch shows no catalog text for MESSAGE_ID=$started_id"
    fi
else
    echo "  (packaging/catalog/fwdwatch.catalog does not exist: catalog checks skipped)"
fi
check "the Prometheus alert rules are installed unchanged in /usr/share/fwdwatch/prometheus/" \
    cmp -s packaging/prometheus/fwdwatch-alerts.yml "$root/usr/share/fwdwatch/prometheus/fwdwatch-alerts.yml"
check "bash completion loads" \
    test -n "$(in_container bash -c 'source /usr/share/bash-completion/completions/fwdwatch && complete -p fwdwatch')"
in_container dpkg -L fwdwatch >"$work/files"
in_container dpkg-query -W -f='${Conffiles}\n' fwdwatch | awk 'NF { print $1 }' >"$work/conffiles"
check "dpkg -L lists $(wc -l <"$work/files") paths (/usr/bin/fwdwatch among them), conffile $(tr '\n' ' ' <"$work/conffiles")" \
    bash -c "grep -qx /usr/bin/fwdwatch '$work/files' && grep -qx /etc/fwdwatch/fwdwatch.toml '$work/conffiles'"

# --- 4. edit the conffile, upgrade ---------------------------------------------------------------------------
stage "edit the conffile, upgrade to $upgrade_version"
# Every key of the shipped file is commented out: uncomment one in place, as an operator does.
in_container sed -i 's/^# sweep-interval-seconds = 5$/sweep-interval-seconds = 7/' /etc/fwdwatch/fwdwatch.toml
check "the edited configuration is valid (fwdwatch check exits 0, 1 or 2)" \
    bash -c "nsenter -t $container_pid -a /usr/bin/fwdwatch check --sample 0 >/dev/null 2>&1; test \$? -le 2"
if as_unit dpkg -i "/pkg/$(basename "$second")" >"$work/upgrade.log" 2>&1; then pass "dpkg -i (upgrade)"; else
    cat "$work/upgrade.log"
    fail "dpkg -i (upgrade)"
fi
check "package upgraded to $upgrade_version" \
    test "$(in_container dpkg-query -W -f='${Version}' fwdwatch)" = "$upgrade_version"
check "the conffile edit survived the upgrade" in_container grep -qx 'sweep-interval-seconds = 7' /etc/fwdwatch/fwdwatch.toml
check "no .dpkg-dist/.dpkg-old beside the conffile (no prompt, no conflict)" \
    test -z "$(in_container sh -c 'ls /etc/fwdwatch/*.dpkg-* 2>/dev/null')"
check "service still enabled" test "$(in_container systemctl is-enabled fwdwatch 2>&1)" = enabled
check "service active after the upgrade" test "$(in_container systemctl is-active fwdwatch 2>&1)" = active
second_pid=$(in_container systemctl show -p MainPID --value fwdwatch)
if [[ -n $first_pid && $first_pid != 0 && -n $second_pid && $second_pid != 0 && $second_pid != "$first_pid" ]]; then
    pass "service restarted by the upgrade (main pid $first_pid -> $second_pid)"
else
    fail "service not restarted by the upgrade (main pid $first_pid -> $second_pid)"
fi

# --- 5. remove -----------------------------------------------------------------------------------------------
stage "remove (dpkg -r)"
if as_unit dpkg -r fwdwatch >"$work/remove.log" 2>&1; then pass "dpkg -r"; else
    cat "$work/remove.log"
    fail "dpkg -r"
fi
active=$(in_container systemctl is-active fwdwatch 2>&1)
if [[ $active == inactive || $active == unknown ]]; then pass "service stopped ($active)"; else fail "service is $active after dpkg -r"; fi
check "no fwdwatch process left" test -z "$(in_container pgrep -x fwdwatch)"
check "package state is config-files" \
    test "$(in_container dpkg-query -W -f='${Status}' fwdwatch 2>&1)" = "deinstall ok config-files"
left=()
while read -r path; do
    grep -qx -- "$path" "$work/conffiles" && continue
    [[ -e $root$path && ! -d $root$path ]] && left+=("$path")
done <"$work/files"
if [[ ! -s $work/files ]]; then fail "no dpkg -L list to check against"; elif ((${#left[@]} == 0)); then
    pass "every file of dpkg -L but the conffile is gone"
else fail "left after dpkg -r: ${left[*]}"; fi
check "the conffile is kept after dpkg -r" in_container test -f /etc/fwdwatch/fwdwatch.toml

# --- 6. purge ------------------------------------------------------------------------------------------------
stage "purge (dpkg -P)"
if as_unit dpkg -P fwdwatch >"$work/purge.log" 2>&1; then pass "dpkg -P"; else
    cat "$work/purge.log"
    fail "dpkg -P"
fi
check "/etc/fwdwatch is gone" in_container test ! -e /etc/fwdwatch
check "the enablement symlink is gone" \
    in_container test ! -e /etc/systemd/system/multi-user.target.wants/fwdwatch.service -a \
    ! -L /etc/systemd/system/multi-user.target.wants/fwdwatch.service
check "deb-systemd-helper state is gone" \
    test -z "$(in_container sh -c 'ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep fwdwatch')"
check "dpkg no longer knows the package" bash -c "! nsenter -t $container_pid -a dpkg-query -W fwdwatch >/dev/null 2>&1"
left=()
while read -r path; do
    [[ $path == /. ]] && continue
    if [[ -e $root$path && ! -d $root$path ]] || [[ -d $root$path && ! -d $path ]]; then left+=("$path"); fi
done <"$work/files"
if [[ ! -s $work/files ]]; then fail "no dpkg -L list to check against"; elif ((${#left[@]} == 0)); then
    pass "no file or directory of dpkg -L is left"
else fail "left after dpkg -P: ${left[*]}"; fi

# --- 7. power off, and the host --------------------------------------------------------------------------------
stage "power off the container, check the host"
power_off
if grep -q 'Powering off\|has been shut down' "$work/console.log"; then pass "container powered off"; else
    tail -5 "$work/console.log"
    fail "container did not power off cleanly"
fi
umount "$root" && umount "$layer"
check "overlay and tmpfs unmounted" bash -c "! mountpoint -q '$root' && ! mountpoint -q '$layer'"
host_after=$(host_state)
if [[ $host_after == "$host_before" ]]; then
    pass "the host is untouched (dpkg status checksum, fwdwatch paths, policy-rc.d, probe file)"
else
    diff <(echo "$host_before") <(echo "$host_after")
    fail "the host changed"
fi

echo "   ($((SECONDS - stage_started)) s)"
echo
echo "deb.sh: $((checks - failures)) passed, $failures failed (in $((SECONDS - started)) s)"
((failures == 0))
