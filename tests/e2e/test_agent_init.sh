#!/usr/bin/env bash
# vm create --init agent on a real VM (QEMU; TCG here): an image with no
# init and no sshd (a rootfs of Debian's busybox-static: /bin/busybox and
# /bin/sh) boots with banger's agent as PID 1:
#   - image register takes it (init: no, sshd: no);
#   - vm create --init agent comes up (the agent answers), vm show says so;
#   - vm exec runs through the agent: stdout and the exit code come back;
#     the network and hostname were set up; an orphan is reaped (no zombie);
#   - vm ssh, vm exec --ssh and vm workspace prepare say the VM has no sshd
#     instead of hanging;
#   - vm stop ends it (the agent syncs and reboots; QEMU exits), vm start
#     boots it the same way again, vm delete leaves nothing (no VM, no
#     directory, no lease).
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap jq ip mkfs.ext4 git

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
export HOME="$BANGER_HOME/home"
W="$BANGER_HOME/w"
mkdir -p "$HOME" "$W"

# scripts/install-deps.sh installs busybox-static: its absence is a set-up
# failure, not a reason to skip.
BUSYBOX=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/busybox$' || true)
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || fail_stop "busybox-static is not installed (scripts/install-deps.sh)"
mkdir -p "$W/root/bin"
cp "$BUSYBOX" "$W/root/bin/busybox"
ln -s busybox "$W/root/bin/sh"
mkfs.ext4 -q -F -d "$W/root" "$W/bb.ext4" 64M || fail_stop "mkfs.ext4 -d"

check "daemon start" "$B" daemon start --timeout 30
check "image register of a busybox rootfs" "$B" image register bb --rootfs "$W/bb.ext4"
img=$("$B" image show bb --json 2>/dev/null) || img='{}'
check "  it has no init and no sshd" bash -c 'jq -e ".has_init == false and .has_sshd == false" <<<"$1" >/dev/null' _ "$img"

t0=$(date +%s%N)
check "vm create --init agent" "$B" vm create --name bb --image bb --init agent
echo "  create: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
json=$("$B" vm show bb --json) || json='{}'
check "vm show: running, init agent" bash -c 'jq -e ".state == \"running\" and .init == \"agent\"" <<<"$1" >/dev/null' _ "$json"
id=$(jq -r .id <<<"$json")
qpid=$(jq -r .pid <<<"$json")

rc=0; out=$("$B" vm exec bb -- busybox sh -c 'echo hi; exit 3' 2>"$W/err") || rc=$?
check "vm exec: prints hi and exits 3" bash -c '[ "$1" = hi ] && [ "$2" -eq 3 ]' _ "$out" "$rc"
check "  through the agent (no ssh fallback)" bash -c '! grep -q "using ssh" "$1"' _ "$W/err"
out=$("$B" vm exec bb -- busybox cat /proc/1/cmdline 2>/dev/null | tr '\0' ' ') || out=""
check "PID 1 is the agent from the initramfs (/init), not the image's" bash -c '[ "${1%% *}" = /init ]' _ "$out"
out=$("$B" vm exec bb -- busybox hostname 2>/dev/null) || out=""
check "the agent set the hostname" [ "$out" = bb ]
ip=$(jq -r .ip <<<"$json")
out=$("$B" vm exec bb -- busybox ip -4 addr 2>/dev/null) || out=""
check "  and the VM's address $ip" grep -q "inet $ip/" <<<"$out"
out=$("$B" vm exec bb -- busybox sh -c 'busybox grep -q " /root ext4 " /proc/mounts && busybox grep -q " /run tmpfs " /proc/mounts && busybox grep -q " /dev/pts devpts " /proc/mounts && echo ok' 2>/dev/null) || out=""
check "  the work disk at /root, /run and /dev/pts mounted" [ "$out" = ok ]
# An orphan: the shell exits at once, its background child is re-parented
# to PID 1, which must reap it when it ends.
"$B" vm exec bb -- busybox sh -c 'busybox sleep 1 & exit 0' >/dev/null 2>&1
sleep 3
zombies=$("$B" vm exec bb -- busybox sh -c 'for f in /proc/[0-9]*/stat; do busybox cut -d" " -f3 "$f"; done' 2>/dev/null | grep -c '^Z' || true)
check "an orphan is reaped by PID 1 (no zombies)" [ "$zombies" = 0 ]
st=$("$B" vm stats bb --json 2>/dev/null) || st='{}'
check "vm stats answers" bash -c 'jq -e ".guest.cpus >= 1" <<<"$1" >/dev/null' _ "$st"
check "vm list shows it running" bash -c '"$1" vm list --json | jq -e ".[] | select(.name == \"bb\" and .state == \"running\")" >/dev/null' _ "$B"

rc=0; timeout 30 "$B" vm ssh bb -- true >/dev/null 2>"$W/err" || rc=$?
check "vm ssh: refused at once, saying the VM has no sshd" bash -c '[ "$1" -ne 0 ] && [ "$1" -ne 124 ] && grep -q "has no sshd" "$2"' _ "$rc" "$W/err"
rc=0; timeout 60 "$B" vm exec --ssh bb -- true >/dev/null 2>"$W/err" || rc=$?
check "vm exec --ssh: refused, saying the VM has no sshd" bash -c '[ "$1" -ne 0 ] && [ "$1" -ne 124 ] && grep -q "has no sshd" "$2"' _ "$rc" "$W/err"
mkdir -p "$W/repo"
git -C "$W/repo" init -q && echo x >"$W/repo/f" && git -C "$W/repo" add f &&
        git -C "$W/repo" -c user.name=t -c user.email=t@t commit -qm x
rc=0; timeout 60 "$B" vm workspace prepare bb "$W/repo" >/dev/null 2>"$W/err" || rc=$?
check "vm workspace prepare: refused, saying the VM has no sshd" bash -c '[ "$1" -ne 0 ] && [ "$1" -ne 124 ] && grep -q "has no sshd" "$2"' _ "$rc" "$W/err"

t0=$(date +%s%N)
check "vm stop" "$B" vm stop bb
echo "  stop: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "  the VMM exited" bash -c '! kill -0 "$1" 2>/dev/null || grep -q "^[0-9]* (.*) Z" /proc/$1/stat' _ "$qpid"
check "  it is stopped" bash -c '"$1" vm show bb --json | jq -e ".state == \"stopped\"" >/dev/null' _ "$B"
check "  the console shows a clean shutdown by the agent" grep -q "shutdown requested by the host" "$BANGER_HOME/state/vms/$id/console.log"
# The choice is the VM's: a later start boots the agent as init again.
check "vm start" "$B" vm start bb
out=$("$B" vm exec bb -- busybox sh -c 'echo again' 2>/dev/null) || out=""
check "  vm exec after the start" [ "$out" = again ]
check "vm delete --force of the running VM" "$B" vm delete --force bb
check "no VM left" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"
check "VM directory removed" [ ! -e "$BANGER_HOME/state/vms/$id" ]
leases=$("$B" net leases --json) || leases=FAILED
check "lease released" bash -c '[ "$1" != FAILED ] && ! grep -q "\"bb\"" <<<"$1"' _ "$leases"
"$B" daemon stop >/dev/null 2>&1
finish
