#!/bin/sh
# Compiles drops.bpf.c for the BPF target and writes its object as bytes into a generated Swift file.
# Run by the build-tool plugin Plugins/BPFObjectPlugin at `swift build`; nothing it makes is committed.
#
#   build-bpf.sh SOURCE WORK_DIRECTORY OUTPUT.swift
#
# 1. vmlinux.h from the build machine's kernel BTF (bpftool btf dump ... format c): CO-RE relocates the
#    field offsets against the running kernel's BTF at load time, so the object runs on other kernels too.
# 2. clang -target bpf -O2 -g (BTF and CO-RE relocations need -g); -mcpu=v3 for the atomic fetch-and-add.
# 3. bpftool gen object: drops the DWARF, keeps .BTF/.BTF.ext (66 KB -> 62 KB instead of 690 KB).
# 4. The bytes as a hex string literal (an array literal of 60,000 elements takes swiftc minutes).
#
# Needs clang (14 or later), bpftool and /sys/kernel/btf/vmlinux (FWDWATCH_VMLINUX_BTF overrides it).
set -eu
source=$1
work=$2
output=$3
PATH=/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}

btf=${FWDWATCH_VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
fail() {
    echo "build-bpf.sh: error: $*" >&2
    exit 1
}
[ -r "$btf" ] || fail "no kernel BTF at $btf (a kernel with CONFIG_DEBUG_INFO_BTF=y; FWDWATCH_VMLINUX_BTF names another file)"
command -v bpftool >/dev/null 2>&1 || fail "bpftool not found (apt-get install bpftool)"
clang=
for candidate in clang-14 /usr/bin/clang clang; do
    if command -v "$candidate" >/dev/null 2>&1; then
        clang=$candidate
        break
    fi
done
[ -n "$clang" ] || fail "clang not found (apt-get install clang)"
[ -r /usr/include/bpf/bpf_helpers.h ] || fail "libbpf headers not found (apt-get install libbpf-dev)"

case $(uname -m) in
x86_64) arch=x86 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

mkdir -p "$work"
bpftool btf dump file "$btf" format c >"$work/vmlinux.h.tmp"
mv "$work/vmlinux.h.tmp" "$work/vmlinux.h"
"$clang" -target bpf -O2 -g -mcpu=v3 -D__TARGET_ARCH_$arch -Wall -Werror \
    -I"$work" -c "$source" -o "$work/drops.bpf.o"
bpftool gen object "$work/drops.linked.o" "$work/drops.bpf.o"

{
    echo "// Generated at build time by Sources/FwdwatchDrops/BPF/build-bpf.sh from drops.bpf.c: do not edit."
    echo "enum DropsProgramObject {"
    echo "    /// The compiled BPF object (ELF), as hex digits."
    printf '    static let hex: StaticString = "'
    od -An -v -tx1 "$work/drops.linked.o" | tr -d ' \n'
    echo '"'
    echo "}"
} >"$output.tmp"
mv "$output.tmp" "$output"
