#!/usr/bin/env bash
# QEMU VMM driver end to end: builds the banger initramfs (banger-agent as
# /init plus the virtio modules of a stock Debian cloud kernel), a root disk
# whose init runs `banger-agent init` and `serve`, a qcow2 overlay over it, a
# work disk and a read-only disk, then hands them to test_vmm_qemu_e2e, which
# drives vmm_qemu_driver (probe, launch, agent Health, adopt, stop, kill, a
# failing launch).
# Usage: test_vmm_qemu.sh BANGER_AGENT E2E_INIT E2E_TOOL DRIVER
set -euo pipefail

AGENT=$1 E2E_INIT=$2 TOOL=$3 DRIVER=$4
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
. "$here/../skiplib.sh" # skip, setup_fail, need_*
need_tools qemu-system-x86_64 qemu-img mkfs.ext4 objcopy
need_built "$AGENT" "$E2E_INIT" "$TOOL" "$DRIVER"

kernel_dir=$(bash "$here/fetch_kernel.sh") || exit $?
bzimage=$(ls "$kernel_dir"/boot/vmlinuz-* | head -n1)
kver=${bzimage##*/vmlinuz-}
moddir=$kernel_dir/lib/modules/$kver
echo "kernel: $bzimage"

work=$(mktemp -d /tmp/banger-vmm-qemu-e2e.XXXXXX)
cleanup() {
  # The driver kills what it starts; this is for a driver that crashed.
  for p in "$work"/vm*/vmm.pid; do
    [ -f "$p" ] || continue
    pid=$(cut -d' ' -f1 "$p")
    if readlink "/proc/$pid/exe" 2>/dev/null | grep -q qemu-system; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# --- initramfs: the agent as /init and the virtio modules in dependency order.
initrd_dir=$work/initrd
mkdir -p "$initrd_dir/lib/banger" "$initrd_dir/dev" "$initrd_dir/proc" "$initrd_dir/sys"
cp "$AGENT" "$initrd_dir/init"
ko_file() {
  local n=$1 alt=${1//_/-}
  find "$moddir/kernel" \( -name "$n.ko*" -o -name "$alt.ko*" \) -print -quit
}
ko_depends() {
  local f=$1 plain=$work/modinfo.ko
  case $f in
    *.xz) xz -dc "$f" >"$plain" ;;
    *.zst) zstd -qdc "$f" >"$plain" ;;
    *.gz) gzip -dc "$f" >"$plain" ;;
    *) cp "$f" "$plain" ;;
  esac
  objcopy -O binary --only-section=.modinfo "$plain" "$work/modinfo.bin"
  tr '\0' '\n' <"$work/modinfo.bin" | sed -n 's/^depends=//p' | tr ',' ' '
}
declare -A seen=()
order=()
visit() {
  local name=$1 f dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  f=$(ko_file "$name")
  if [ -z "$f" ]; then
    grep -q "/$name.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
    fail "module $name not found in $moddir"
  fi
  for dep in $(ko_depends "$f"); do visit "$dep"; done
  order+=("${f#"$moddir"/}")
}
for m in virtio_mmio virtio_blk virtio_console virtio_net; do visit "$m"; done
: >"$initrd_dir/lib/banger/modules.order"
for rel in "${order[@]}"; do
  mkdir -p "$initrd_dir/lib/modules/$kver/$(dirname "$rel")"
  cp "$moddir/$rel" "$initrd_dir/lib/modules/$kver/$rel"
  echo "$rel" >>"$initrd_dir/lib/banger/modules.order"
done
"$TOOL" mkcpio "$initrd_dir" "$work/initrd.cpio" || fail "could not write the initramfs"

# --- disks: root (raw image under a qcow2 overlay), work, read-only.
root_dir=$work/rootfs
mkdir -p "$root_dir"/{sbin,proc,sys,dev,root,tmp,etc}
cp "$AGENT" "$root_dir/sbin/banger-agent"
cp "$E2E_INIT" "$root_dir/sbin/e2e-init"
truncate -s 64M "$work/root.img"
mkfs.ext4 -q -F -E root_owner=0:0 -d "$root_dir" "$work/root.img" || fail "mkfs.ext4 -d failed"
qemu-img create -q -f qcow2 -F raw -b "$work/root.img" "$work/root.qcow2" || fail "qemu-img create"
truncate -s 16M "$work/work.img"
mkfs.ext4 -q -F -E root_owner=0:0 "$work/work.img" || fail "mkfs.ext4 (work) failed"
truncate -s 8M "$work/ro.img"

"$DRIVER" "$bzimage" "$work/initrd.cpio" "$work/root.qcow2" "$work/work.img" "$work/ro.img" "$work"
