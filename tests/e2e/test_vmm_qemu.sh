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
. "$here/agent_images.sh"
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
agent_initrd "$AGENT" "$TOOL" "$moddir" "$kver" "$work" "$work/initrd.cpio"

# --- disks: root (raw image under a qcow2 overlay), work, read-only.
agent_rootfs "$AGENT" "$E2E_INIT" "$work" "$work/root.img"
qemu-img create -q -f qcow2 -F raw -b "$work/root.img" "$work/root.qcow2" || fail "qemu-img create"
truncate -s 16M "$work/work.img"
mkfs.ext4 -q -F -E root_owner=0:0 "$work/work.img" || fail "mkfs.ext4 (work) failed"
truncate -s 8M "$work/ro.img"

"$DRIVER" "$bzimage" "$work/initrd.cpio" "$work/root.qcow2" "$work/work.img" "$work/ro.img" "$work"
