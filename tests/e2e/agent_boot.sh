#!/usr/bin/env bash
# Boots a Debian cloud kernel under QEMU TCG (microvm, ACPI on) with an
# initramfs whose /init is banger-agent plus the virtio modules, and a tiny
# ext4 root disk whose init runs `banger-agent init` (name, address, route,
# DNS, work disk), starts a listener and execs `banger-agent serve`.
# Kernel parameters that matter under QEMU TCG on microvm:
#  - tsc_early_khz: on a loaded host the TSC calibration against the PIT can
#    fail and the boot then hangs; a preset frequency avoids it;
#  - reboot=t: the default reboot path (ACPI reset register) sometimes resets
#    the machine in place despite -no-reboot (about 1 run in 4 here); a triple
#    fault always makes QEMU exit.
# Then asks Health, Ports and Stats over virtio-serial, sends Shutdown, and
# requires QEMU to exit by itself within 10 s.
#
# Kernel: from fetch_kernel.sh ($BANGER_TEST_KERNEL_DIR, else the Debian
# linux-image-*-cloud-amd64 package, downloaded once into a cache).
# With BANGER_TEST_BZIMAGE and BANGER_TEST_INITRD set, boots exactly those
# (e.g. a kernel and banger initramfs made by `banger kernel pull`) instead.
# Usage: agent_boot.sh BANGER_AGENT E2E_INIT E2E_TOOL
set -euo pipefail

AGENT=$1 E2E_INIT=$2 TOOL=$3
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
. "$here/../skiplib.sh" # skip, setup_fail, need_*
. "$here/agent_images.sh"
need_tools qemu-system-x86_64 mkfs.ext4 objcopy
need_built "$AGENT" "$E2E_INIT" "$TOOL"

if [ -n "${BANGER_TEST_BZIMAGE:-}" ] && [ -n "${BANGER_TEST_INITRD:-}" ]; then
  bzimage=$BANGER_TEST_BZIMAGE
  echo "kernel: $bzimage (given), initramfs: $BANGER_TEST_INITRD (given)"
else
kernel_dir=$(bash "$here/fetch_kernel.sh") || exit $?
bzimage=$(ls "$kernel_dir"/boot/vmlinuz-* | head -n1)
kver=${bzimage##*/vmlinuz-}
moddir=$kernel_dir/lib/modules/$kver
echo "kernel: $bzimage"

fi

work=$(mktemp -d /tmp/banger-agent-e2e.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BANGER_TEST_INITRD:-}" ]; then
  cp "$BANGER_TEST_INITRD" "$work/initrd.cpio"
else
# --- initramfs: the agent as /init and the virtio modules in dependency order.
agent_initrd "$AGENT" "$TOOL" "$moddir" "$kver" "$work" "$work/initrd.cpio"

fi

# --- root disk: PID 1 is the e2e init, which execs banger-agent serve.
agent_rootfs "$AGENT" "$E2E_INIT" "$work" "$work/root.img"
# The work disk `banger-agent init` mounts at /root (16 MiB, to tell it apart).
work_bytes=$((16 * 1024 * 1024))
truncate -s $work_bytes "$work/work.img"
mkfs.ext4 -q -F -E root_owner=1000:1000 "$work/work.img" || fail "mkfs.ext4 (work) failed"

# --- boot.
sock=$work/agent.sock
accel="tcg,thread=multi"
qemu-system-x86_64 -M microvm,acpi=on -accel "$accel" -cpu qemu64 -m 512 -smp 1 \
  -no-reboot -nographic -monitor none -serial "file:$work/console.log" \
  -kernel "$bzimage" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 tsc_early_khz=2000000 root=/dev/vda rw rootfstype=ext4 init=/sbin/e2e-init panic=-1 reboot=t banger.agent=virtio-serial:org.banger.agent.0 banger.name=e2e-vm banger.ip=10.0.2.15/24 banger.gw=10.0.2.2 banger.dns=10.0.2.3 banger.mac=52:54:00:12:34:56 banger.work=/dev/vdb banger.bogus=1" \
  -drive id=root,file="$work/root.img",format=raw,if=none \
  -device virtio-blk-device,drive=root \
  -drive id=work,file="$work/work.img",format=raw,if=none \
  -device virtio-blk-device,drive=work \
  -netdev user,id=net0 -device virtio-net-device,netdev=net0,mac=52:54:00:12:34:56 \
  -device virtio-serial-device \
  -chardev socket,id=agent,path="$sock",server=on,wait=off \
  -device virtserialport,chardev=agent,name=org.banger.agent.0 \
  </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!

show_logs() {
  echo "--- qemu"; cat "$work/qemu.log" || true
  echo "--- console"; cat "$work/console.log" || true
}

start=$(date +%s)
if ! "$TOOL" check "$sock" e2e-vm "$work_bytes"; then
  show_logs
  fail "agent did not answer as expected"
fi
echo "agent answered after $(( $(date +%s) - start )) s"

# --- QEMU must exit by itself within 10 s of the Shutdown ack.
for _ in $(seq 100); do
  kill -0 "$qemu_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
  show_logs
  fail "QEMU still running 10 s after Shutdown"
fi
wait "$qemu_pid" || true
qemu_pid=
for want in "banger-agent: shutdown requested" "banger-agent: unknown parameter banger.bogus" \
    "banger-agent: mounted work disk /dev/vdb at /root" "banger-agent: eth0: 10.0.2.15/24" \
    "banger-agent: default route via 10.0.2.2"; do
  grep -q "$want" "$work/console.log" || { show_logs; fail "console lacks '$want'"; }
done
# What `init` wrote (the VM is gone; read the images).
hosts=$(debugfs -R "cat /etc/hosts" "$work/root.img" 2>/dev/null)
resolv=$(debugfs -R "cat /etc/resolv.conf" "$work/root.img" 2>/dev/null)
grep -q "10.0.2.15	e2e-vm" <<<"$hosts" || fail "/etc/hosts lacks the VM's name: $hosts"
grep -q "nameserver 10.0.2.3" <<<"$resolv" || fail "/etc/resolv.conf lacks banger.dns: $resolv"
owner=$(debugfs -R "stat /" "$work/work.img" 2>/dev/null |
        sed -n 's/.*User: *\([0-9]*\) *Group: *\([0-9]*\).*/\1:\2/p')
[ "$owner" = "0:0" ] || fail "work disk root is owned by '$owner', not 0:0"

echo "PASS: QEMU exited after Shutdown"
