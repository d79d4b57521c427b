#!/usr/bin/env bash
# Builds the Debian package: fwdwatch_<version>_<arch>.deb in the repository root (or $OUTDIR).
#
#   bash scripts/build-deb.sh
#
# 1. installs the build tools when missing (apt-get: debhelper, dpkg-dev, libnl-route-3-dev, libsystemd-dev, ...),
# 2. swift build -c release --static-swift-stdlib into .build-deb/ (its own build folder, so it neither waits for
#    nor disturbs the debug build in .build/), and checks that the binary needs no libswift*.so,
# 3. lays out a package tree in a temporary folder: packaging/debian as debian/, the binary, the unit from
#    systemd/, the catalog, packaging/fwdwatch.toml (a conffile), the man pages, the Prometheus alert rules
#    (/usr/share/fwdwatch/prometheus/), the completions the binary generates and a changelog for the version,
# 4. dpkg-buildpackage -b (debhelper: dh_installsystemd enables and starts the service on install, stops it on
#    remove, purges the enablement; dh_shlibdeps computes Depends).
#
# Environment: VERSION (default: `fwdwatch --version`) sets the package version, e.g. VERSION=0.1.1 to test an
# upgrade; OUTDIR (default: the repository root) where the .deb goes; FWDWATCH_BINARY packages that binary
# instead of building one (it must be built as above). Prints the path of the .deb last.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

source "$repo/scripts/lib/common.sh"
install_missing debhelper dpkg-dev fakeroot "${build_packages[@]}"
use_swift

scratch="$repo/.build-deb"
if [[ -n ${FWDWATCH_BINARY:-} ]]; then
    # A binary built elsewhere (same flags, please): packaged as it is.
    binary=$FWDWATCH_BINARY
    echo "build-deb: packaging $binary (FWDWATCH_BINARY), no swift build" >&2
else
    # Debian's hardening for the C parts (the libnl/libsystemd shims) and the link:
    # FORTIFY_SOURCE, full RELRO with immediate binding.
    hardening=(-Xcc -D_FORTIFY_SOURCE=2 -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
    # Memory: link with lld and pack the relative relocations (DT_RELR, glibc >= 2.36 as in Debian 12). With
    # the Swift runtime inside, gold's PIE carries ~96,000 RELA entries (2.3 MB read and applied at every start);
    # as RELR they take about 20 KB. Idle RSS 25.1 -> 24.1 MB (README, Performance).
    memory=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs)
    echo "build-deb: swift build -c release --static-swift-stdlib (scratch path $scratch)" >&2
    swift build -c release --static-swift-stdlib "${hardening[@]}" "${memory[@]}" --scratch-path "$scratch" \
        --product fwdwatch >&2
    binary="$scratch/release/fwdwatch"
fi

# The Swift runtime must be inside the binary: no libswift*.so may be needed at run time.
needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if grep -q '^libswift\|^libFoundation\|^lib_FoundationICU\|^libdispatch\|^libBlocksRuntime' <<<"$needed"; then
    echo "build-deb: the binary still needs the Swift runtime as shared libraries:" >&2
    echo "$needed" >&2
    exit 1
fi
echo "build-deb: shared libraries the binary needs: $(tr '\n' ' ' <<<"$needed")" >&2

version=${VERSION:-$("$binary" --version)}
if ! [[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
    echo "build-deb: '$version' is not a usable package version" >&2
    exit 1
fi
arch=$(dpkg --print-architecture)
outdir=${OUTDIR:-$repo}
mkdir -p "$outdir"

work=$(mktemp -d /tmp/fwdwatch-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree="$work/fwdwatch-$version"
mkdir -p "$tree"/{build,catalog,config,man,prometheus,examples,completions/bash,completions/zsh,completions/fish}

cp -r packaging/debian "$tree/debian"
cp systemd/fwdwatch.service "$tree/debian/fwdwatch.service"
cp "$binary" "$tree/build/fwdwatch"
cp packaging/catalog/fwdwatch.catalog "$tree/catalog/"
cp packaging/fwdwatch.toml "$tree/config/"
cp packaging/man/fwdwatch.8 packaging/man/fwdwatch.toml.5 "$tree/man/"
cp packaging/prometheus/fwdwatch-alerts.yml "$tree/prometheus/"
cp packaging/systemd/repair.conf packaging/systemd/textfile.conf packaging/systemd/drops.conf "$tree/examples/"
cp README.md "$tree/"
# bash-completion files are sourced, not run: no #! line (lintian: bash-completion-with-hashbang).
"$binary" --generate-completion-script bash | sed '1{/^#!/d}' >"$tree/completions/bash/fwdwatch"
"$binary" --generate-completion-script zsh >"$tree/completions/zsh/_fwdwatch"
"$binary" --generate-completion-script fish >"$tree/completions/fish/fwdwatch.fish"

maintainer=$(sed -n 's/^Maintainer: //p' packaging/debian/control)
{
    echo "fwdwatch ($version) unstable; urgency=medium"
    echo
    echo "  * Package fwdwatch $version: the daemon as a systemd service, fwdwatch check,"
    echo "    the journal message catalog, manual pages and shell completions."
    echo
    echo " -- $maintainer  $(date -R)"
} >"$tree/debian/changelog"

echo "build-deb: dpkg-buildpackage -b (version $version)" >&2
(cd "$tree" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }noautodbgsym" dpkg-buildpackage -b -us -uc -d >&2)

deb="fwdwatch_${version}_${arch}.deb"
mv "$work/$deb" "$outdir/$deb"
echo "$outdir/$deb"
