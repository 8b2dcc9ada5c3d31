#!/usr/bin/env bash
# NetService/JailStart and JailClean (Firecracker's jailer, config
# firecracker.jailer) through the real banger-netsvc as root in a fresh
# network namespace, with a stand-in jailer that records its arguments and
# stays running: the chroot is staged with hard links of the owner's files,
# the VM directory gets symlinks into it, the jailer runs detached (not
# netsvc's child, its own session) with the owner's uid/gid and cgroup v2;
# paths outside banger's state, foreign files, symlinks, bad ids, programs
# other than netsvc's own config names, and programs someone other than root
# could change are refused with nothing staged; JailClean removes it all.
#
# Usage: test_netsvc_jail.sh /path/to/netsvc_call
set -uo pipefail
CALLT=${1:?usage: test_netsvc_jail.sh NETSVC_CALL}
: "${BANGER_BUILD_DIR:?run through ctest}"
BIN="$BANGER_BUILD_DIR/bin"
. "$(dirname "$0")/../skiplib.sh" # skip, setup_fail, need_*
need_root "netsvc, network namespaces"
need_tools ip setpriv
need_built "$BIN/banger-netsvc" "$CALLT"
getent passwd 65534 >/dev/null || setup_fail "no user with uid 65534 (nobody) to own the files"
NS="bgj$$"
ip netns add "$NS" || setup_fail "ip netns add $NS failed"
H=$(mktemp -d /tmp/bgj.XXXXXX)
chmod 0755 "$H"
NPID=""
cleanup() {
        [ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
        [ -f "$H/jailer.pid" ] && kill -9 "$(cat "$H/jailer.pid")" 2>/dev/null
        ip netns del "$NS" 2>/dev/null
        [ "${FAILS:-0}" -ne 0 ] && [ -f "$H/netsvc.log" ] && tail -20 "$H/netsvc.log"
        rm -rf "$H"
}
trap cleanup EXIT
FAILS=0
check() { local d="$1"; shift; if "$@"; then echo "ok   - $d"; else echo "FAIL - $d"; FAILS=$((FAILS + 1)); fi; }
export BANGER_HOME="$H"
URL="ipc://$H/run/netsvc.sock"
call() { "$CALLT" "$URL" "$@"; }
ip netns exec "$NS" ip link set lo up
# netsvc takes the jailer and Firecracker from its own config, not the request.
mkdir -p "$H/config"
printf '[firecracker]\nbinary = "%s"\njailer_binary = "%s"\n' "$H/bin/firecracker" \
        "$H/bin/jailer" > "$H/config/config.toml"
ip netns exec "$NS" env BANGER_HOME="$H" "$BIN/banger-netsvc" --owner-uid 65534 >>"$H/netsvc.log" 2>&1 &
NPID=$!
for _ in $(seq 200); do call health >/dev/null 2>&1 && break; sleep 0.05; done
check "netsvc up" call health

S="$H/state"
ID=0123456789abcdef0123456789abcdef
VM="$S/vms/$ID"
mkdir -p "$VM" "$S/kernels/k" "$H/bin"
for f in "$S/kernels/k/vmlinux" "$S/kernels/k/initramfs" "$VM/root.img" "$VM/work.ext4"; do
        head -c 4096 /dev/urandom > "$f"
done
chown -R 65534:65534 "$S/kernels" "$VM"
# A jailed VM's console pump runs as the owner and reaches the VM directory
# as the owner (in system mode the state directory is the owner's; here
# netsvc, root, made it 0700).
chmod 0711 "$S"
# The stand-in: the real jailer would mknod, chroot, drop to --uid/--gid and
# exec Firecracker; this one writes down how it was called and waits.
cat > "$H/bin/jailer" <<JAILER
#!/bin/sh
printf '%s\n' "\$@" > "$H/jailer.args"
echo \$\$ > "$H/jailer.pid"
exec sleep 300
JAILER
chmod 0755 "$H/bin/jailer"
touch "$H/bin/firecracker"; chmod 0755 "$H/bin/firecracker"
FC="$H/bin/firecracker" JL="$H/bin/jailer"
K="$S/kernels/k/vmlinux" I="$S/kernels/k/initramfs"

# firecracker.jailer = "auto" (on in system mode) asks Status whether netsvc
# can run the jailer at all: here it can (capabilities, trusted programs,
# an owner that is not root).
check "Status: jailer_usable with the capabilities and trusted programs" bash -c '
        "$1" "$2" status | grep -qx "jailer_usable=1"' _ "$CALLT" "$URL"

out=$(call jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img" "$VM/work.ext4" 2>&1)
pid=$(sed -n 's/^pid=//p' <<<"$out")
echo "  $out"
check "JailStart returns the jailer's pid" [ -n "$pid" ]
for _ in $(seq 100); do [ -f "$H/jailer.args" ] && break; sleep 0.05; done
check "it runs" kill -0 "$pid"
check "  detached: not netsvc's child" bash -c '[ "$(awk "{print \$4}" /proc/$1/stat)" != "$2" ]' _ "$pid" "$NPID"
check "  in a session of its own" bash -c '[ "$(awk "{print \$6}" /proc/$1/stat)" != "$(awk "{print \$6}" /proc/$2/stat)" ]' _ "$pid" "$NPID"
args=$(tr '\n' ' ' < "$H/jailer.args" 2>/dev/null)
echo "  jailer $args"
check "  with --id, --exec-file, the owner's uid/gid, the chroot base and cgroup v2" bash -c '
        a="$1"; grep -q -- "--id $2 " <<<"$a" && grep -q -- "--exec-file $3 " <<<"$a" &&
        grep -q -- "--uid 65534 --gid 65534 " <<<"$a" && grep -q -- "--chroot-base-dir $4/jail " <<<"$a" &&
        grep -q -- "--cgroup-version 2" <<<"$a" && grep -q -- "-- --api-sock /api.sock" <<<"$a"' _ "$args" $ID "$FC" "$S"
R="$S/jail/firecracker/$ID/root"
check "chroot staged: hard links of kernel, initrd and disks" bash -c '
        [ "$(stat -c %i "$1/vmlinux")" = "$(stat -c %i "$2")" ] && [ "$(stat -c %i "$1/vda")" = "$(stat -c %i "$3/root.img")" ] &&
        [ "$(stat -c %i "$1/vdb")" = "$(stat -c %i "$3/work.ext4")" ] && [ -f "$1/initrd" ]' _ "$R" "$K" "$VM"
check "the VM directory links into the chroot (short socket paths)" bash -c '
        [ "$(readlink "$1/api.sock")" = "$2/api.sock" ] && [ "$(readlink "$1/agent.sock")" = "$2/agent.sock" ]' _ "$VM" "$R"
kill -9 "$pid" 2>/dev/null; rm -f "$H/jailer.pid"
out=$(call jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img" 2>&1)
pid=$(sed -n 's/^pid=//p' <<<"$out")
check "a second JailStart replaces the chroot an ended run left" bash -c '[ -n "$1" ] && [ -e "$2/vda" ] && [ ! -e "$2/vdb" ]' _ "$pid" "$R"
kill -9 "$pid" 2>/dev/null; rm -f "$H/jailer.pid"
check "JailClean" call jail-clean $ID "$VM"
check "  removes the chroot and the VM directory's links" bash -c '[ ! -e "$1/jail/firecracker/$2" ] && [ ! -L "$3/api.sock" ] && [ -f "$3/root.img" ]' _ "$S" $ID "$VM"

# Refusals: nothing staged, nothing started.
refused() { # refused WHAT EXPECT_CODE ARGS...
        local what=$1 code=$2; shift 2
        rm -f "$H/jailer.args"
        local o
        o=$(call "$@" 2>&1) && { echo "  accepted: $o"; return 1; }
        grep -q "^$code" <<<"$o" || { echo "  got: $o"; return 1; }
        [ ! -e "$S/jail/firecracker/${ID}" ] && [ ! -e "$H/jailer.args" ]
}
mkdir -p /tmp/bgj-outside.$$ && head -c 10 /dev/zero > /tmp/bgj-outside.$$/k && chown -R 65534:65534 /tmp/bgj-outside.$$
check "a kernel outside banger's state is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" /tmp/bgj-outside.$$/k "$I" "$FC" "$JL" "$VM/root.img"
check "a VM dir outside banger's state is refused" refused x PERMISSION_DENIED jail-start $ID /tmp/bgj-outside.$$ "$K" "$I" "$FC" "$JL" "$VM/root.img"
check "a path with .. is refused" refused x INVALID_ARGUMENT jail-start $ID "$VM" "$S/kernels/k/../k/vmlinux" "$I" "$FC" "$JL" "$VM/root.img"
check "an id that is not hex is refused" refused x INVALID_ARGUMENT jail-start "../$ID" "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img"
check "a firecracker other than the configured one is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$JL" "$JL" "$VM/root.img"
cp "$JL" "$H/bin/other-jailer"
check "a jailer other than the configured one is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$FC" "$H/bin/other-jailer" "$VM/root.img"
o=$(call jail-start $ID "$VM" "$K" "$I" "$FC" "$H/bin/other-jailer" "$VM/root.img" 2>&1)
check "  and the error names the config key" grep -q "firecracker.jailer_binary" <<<"$o"
chmod 0775 "$JL"
check "a group-writable jailer is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img"
chmod 0755 "$JL"; chown 65534 "$JL"
check "a jailer the owner owns is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img"
chown 0 "$JL"; chown 65534 "$H/bin"
check "a jailer in a directory the owner owns is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img"
chown 0 "$H/bin"
check "the request may leave the programs out (netsvc's config decides)" bash -c '
        o=$("$1" "$2" jail-start $3 "$4" "$5" "$6" "" "" "$4/root.img" 2>&1); p=$(sed -n "s/^pid=//p" <<<"$o")
        [ -n "$p" ] && kill -9 "$p"' _ "$CALLT" "$URL" $ID "$VM" "$K" "$I"
rm -f "$H/jailer.pid"; call jail-clean $ID "$VM" >/dev/null 2>&1
head -c 10 /dev/zero > "$VM/foreign.img"
check "a disk the owner does not own is refused" refused x PERMISSION_DENIED jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/foreign.img"
ln -s /etc/shadow "$VM/evil.img"; chown -h 65534:65534 "$VM/evil.img"
check "a disk that is a symlink is refused (not followed)" refused x "" jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/evil.img"
rm -rf /tmp/bgj-outside.$$

# Issue 19: a guest that floods its serial console. The jailer keeps stdio
# (no --daemonize) and execs into Firecracker, whose stdout is the console:
# netsvc gives it the pipe of a console pump it starts as the owner, never
# as root, which keeps DIR/console.log under the cap (JailStart's
# console_log_max, vm.console_log_max) with rotation. Nothing of the flood
# lands in root's jail directory. The stand-in floods 3 MB, then a marker.
cat > "$JL" <<JAILER
#!/bin/sh
echo \$\$ > "$H/jailer.pid"
echo "jailer: to stderr" >&2
head -c 3000000 /dev/zero | tr '\\0' 'x'
echo
echo END-OF-FLOOD
exec sleep 300
JAILER
chmod 0755 "$JL"
rm -f "$H/jailer.pid"
out=$(JAIL_CONSOLE_MAX=65536 call jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img" 2>&1)
pid=$(sed -n 's/^pid=//p' <<<"$out")
echo "  $out"
[ -n "$pid" ] || { echo "  vmm.log:"; cat "$VM/vmm.log"; }
check "JailStart with a console cap of 64 KiB starts the flooding jailer" [ -n "$pid" ]
for _ in $(seq 200); do grep -qs END-OF-FLOOD "$VM/console.log" && break; sleep 0.05; done
check "the console reaches DIR/console.log, to its last line" grep -q END-OF-FLOOD "$VM/console.log"
sz=$(( $(stat -c %s "$VM/console.log" 2>/dev/null || echo 0) + $(stat -c %s "$VM/console.log.1" 2>/dev/null || echo 0) ))
echo "  console.log + console.log.1: $sz bytes"
check "  console.log and console.log.1 together stay within the cap + 4 KiB" [ "$sz" -le $((65536 + 4096)) ]
check "  rotated (console.log.1 exists)" [ -f "$VM/console.log.1" ]
check "  both are the owner's" bash -c '[ "$(stat -c %u "$1/console.log")" = 65534 ] && [ "$(stat -c %u "$1/console.log.1")" = 65534 ]' _ "$VM"
ppid_=$(cat "$VM/console-pump.pid" 2>/dev/null | head -1 | awk '{print $1}')
check "the pump runs as the owner (uid 65534), named by DIR/console-pump.pid" bash -c '[ -n "$1" ] && [ "$(awk "/^Uid:/{print \$2}" /proc/$1/status)" = 65534 ]' _ "$ppid_"
check "  in a session of its own, not netsvc's" bash -c '[ "$(awk "{print \$6}" /proc/$1/stat)" != "$(awk "{print \$6}" /proc/$2/stat)" ]' _ "$ppid_" "$NPID"
jl="$S/jail/firecracker/$ID/jailer.log"
check "the jail's log (root's) has the jailer's stderr and no console" bash -c '
        grep -q "jailer: to stderr" "$1" && [ "$(stat -c %s "$1")" -lt 4096 ]' _ "$jl"
kill -9 "$pid" 2>/dev/null; rm -f "$H/jailer.pid"
for _ in $(seq 100); do [ -e "$VM/console-pump.pid" ] || break; sleep 0.05; done
check "the pump ends with the jailed Firecracker (its pidfile is gone)" [ ! -e "$VM/console-pump.pid" ]
check "a console cap under 64 KiB is refused" bash -c '
        o=$(JAIL_CONSOLE_MAX=1000 "$1" "$2" jail-start $3 "$4" "$5" "$6" "" "" "$4/root.img" 2>&1)
        grep -q "^INVALID_ARGUMENT.*64K" <<<"$o"' _ "$CALLT" "$URL" $ID "$VM" "$K" "$I"
call jail-clean $ID "$VM" >/dev/null 2>&1

# Without the capabilities the jailer needs (netsvc's systemd unit keeps only
# CAP_NET_ADMIN and CAP_CHOWN), JailStart says which ones are missing.
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null
ip netns exec "$NS" env BANGER_HOME="$H" setpriv --bounding-set -sys_chroot,-mknod -- \
        "$BIN/banger-netsvc" --owner-uid 65534 >>"$H/netsvc.log" 2>&1 &
NPID=$!
for _ in $(seq 200); do call health >/dev/null 2>&1 && break; sleep 0.05; done
out=$(call jail-start $ID "$VM" "$K" "$I" "$FC" "$JL" "$VM/root.img" 2>&1)
echo "  $out"
check "Status: not jailer_usable without them, naming them" bash -c '
        s=$("$1" "$2" status) && grep -qx "jailer_usable=0" <<<"$s" &&
        grep -q "^jailer_why=the jailer needs CAP_SYS_CHROOT CAP_MKNOD" <<<"$s"' _ "$CALLT" "$URL"
check "without CAP_SYS_CHROOT and CAP_MKNOD JailStart is refused naming them" bash -c '
        grep -q "^PERMISSION_DENIED: the jailer needs CAP_SYS_CHROOT CAP_MKNOD" <<<"$1" &&
        [ ! -e "$2/jail/firecracker/$3" ]' _ "$out" "$S" $ID
echo "$FAILS failed"
[ "$FAILS" -eq 0 ]
