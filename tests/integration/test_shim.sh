#!/usr/bin/env bash
# Issue #23, first slice: containerd-shim-banger-v2 as containerd runs it,
# driven over its ttrpc socket by a client with no banger or containerd code
# (ttrpc_call.py: framing and protobuf by hand). No VM boots.
#   - `start` prints unix://<dir>/<sha256(address/ns/id)> (containerd 1.6's
#     scheme), writes the bundle's address file, leaves a serving shim
#     behind and returns; a second `start` finds the live shim;
#   - Connect answers with the shim's pid and version; methods the shim does
#     not have (Pause) are UNIMPLEMENTED (12) with a message naming them;
#     requests for another task or a task not created are NOT_FOUND (5);
#     even stream ids are INVALID_ARGUMENT, an oversize frame
#     RESOURCE_EXHAUSTED, an unknown frame type closes the connection;
#   - Create refuses a bundle without process.args (INVALID_ARGUMENT, naming
#     the field), a checkpoint (UNIMPLEMENTED) and an empty rootfs, takes a
#     rootfs without init or sshd (agent as init); with banger stopped it
#     is UNAVAILABLE (14) with "banger is not running";
#   - with banger running, Create goes through the gateway to VmService:
#     VmService's refusal comes back with its status and message and the
#     task is not left half-created; a VM whose create operation fails (an
#     image that cannot be built) is deleted again;
#   - `delete` reaches VmService (no VM: nothing to do) and prints a
#     DeleteResponse with exit status 137; Shutdown ends the serving shim and
#     removes its socket.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
need_tools python3 jq mountpoint
SHIM="$BIN/containerd-shim-banger-v2"
need_built "$SHIM"
CALL="python3 $(cd "$(dirname "$0")" && pwd)/ttrpc_call.py"
new_home

export BANGER_SHIM_SOCKET_DIR="$BANGER_HOME/s"
B="$BANGER_HOME/bundle"
mkdir -p "$B/rootfs"
# The container's rootfs, bind-mounted by the shim at $B/rootfs (as
# containerd's Create passes it): just enough to pass for bootable.
SRC="$BANGER_HOME/src"
mkdir -p "$SRC/sbin" "$SRC/usr/sbin" "$SRC/etc"
printf '#!/bin/sh\n' >"$SRC/sbin/init"
printf '#!/bin/sh\n' >"$SRC/usr/sbin/sshd"
chmod 755 "$SRC/sbin/init" "$SRC/usr/sbin/sshd"
echo marker >"$SRC/etc/banger-marker"
MNT="3:mount=bind|$SRC|rbind,ro"
cat >"$B/config.json" <<'EOF'
{"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", "echo hi; exit 3"],
 "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/"}, "root": {"path": "rootfs"}}
EOF
ADDR_ARG="$BANGER_HOME/containerd.sock"

# ---- start protocol ----
out=$(cd "$B" && "$SHIM" -namespace t1 -address "$ADDR_ARG" -publish-binary /bin/true -id c1 start)
want="unix://$BANGER_SHIM_SOCKET_DIR/$(printf '%s' "$ADDR_ARG/t1/c1" | sha256sum | cut -d' ' -f1)"
check "start prints the socket address (sha256 of address/ns/id)" [ "$out" = "$want" ]
SOCK=${out#unix://}
check "start wrote the bundle's address file" [ "$(cat "$B/address")" = "$out" ]
check "the socket is 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
SHIM_PID=$(pgrep -f "banger-v2 .*-address $ADDR_ARG .*-id c1$" -n || true)
check "a serving shim runs (no 'start' in its arguments)" [ -n "$SHIM_PID" ]
out2=$(cd "$B" && "$SHIM" -namespace t1 -address "$ADDR_ARG" -id c1 start)
check "a second start finds the live shim" [ "$out2" = "$out" ]
check "  and starts no second one" [ "$(pgrep -fc "banger-v2 .*-address $ADDR_ARG .*-id c1$")" = 1 ]

# ---- calls that need no banger ----
r=$($CALL "$SOCK" Connect 1=c1)
check "Connect: OK" grep -qx "code=0" <<<"$r"
check "Connect: shim_pid is the serving shim" grep -qx "1=$SHIM_PID" <<<"$r"
check "Connect: version names banger" grep -q "^3=banger " <<<"$r"
r=$($CALL "$SOCK" Pause 1=c1)
check "Pause: UNIMPLEMENTED (12) with the method named" bash -c 'grep -qx "code=12" <<<"$1" && grep -qx "message=method containerd.task.v2.Task/Pause is not implemented by this shim" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" Pids 1=c1)
check "Pids before Create: NOT_FOUND" grep -qx "code=5" <<<"$r"
r=$($CALL "$SOCK" State 1=c2)
check "State of another task: NOT_FOUND naming the shim's task" bash -c 'grep -qx "code=5" <<<"$1" && grep -q "this shim serves c1" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" State 1=c1)
check "State before Create: NOT_FOUND" grep -qx "code=5" <<<"$r"
r=$($CALL "$SOCK" Kill 1=c1 3:int=9)
check "Kill before Create: NOT_FOUND" grep -qx "code=5" <<<"$r"
r=$($CALL --raw "$SOCK" "00000000000000020100")
check "an even stream id: INVALID_ARGUMENT on that stream" grep -q "^stream=2 type=2 code=3 " <<<"$r"
r=$($CALL --raw "$SOCK" "00400001000000010100" 4194305)
check "a frame over 4 MiB: RESOURCE_EXHAUSTED on its stream" grep -q "^stream=1 type=2 code=8 message=ttrpc: message length 4194305 exceeds" <<<"$r"
r=$($CALL --raw "$SOCK" "00000000000000010900")
check "a frame of unknown type: the connection is closed" grep -qx closed <<<"$r"

mkdir -p "$BANGER_HOME/bad"
echo '{"process": {"cwd": "/"}}' >"$BANGER_HOME/bad/config.json"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "$MNT" 6=/dev/null 7=/dev/null)
check "Create with banger stopped: UNAVAILABLE, banger is not running" bash -c 'grep -qx "code=14" <<<"$1" && grep -q "banger is not running" <<<"$1"' _ "$r"
check "  and the shim unmounted the rootfs it had mounted" bash -c '! mountpoint -q "$1"' _ "$B/rootfs"
mv "$B/config.json" "$B/config.json.good"
cp "$BANGER_HOME/bad/config.json" "$B/config.json"
r=$($CALL "$SOCK" Create 1=c1 "2=$B")
check "Create without process.args: INVALID_ARGUMENT naming the field" bash -c 'grep -qx "code=3" <<<"$1" && grep -q "process.args must be a non-empty array" <<<"$1"' _ "$r"
mv "$B/config.json.good" "$B/config.json"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" 8=/ckpt)
check "Create from a checkpoint: UNIMPLEMENTED" grep -qx "code=12" <<<"$r"
r=$($CALL "$SOCK" Create 1=c1 "2=/elsewhere")
check "Create with another bundle: INVALID_ARGUMENT" grep -qx "code=3" <<<"$r"

# ---- with banger running: the gateway path ----
mkdir -p "$BANGER_HOME/config"
printf '[vm]\nmax_labels = 1\n' >"$BANGER_HOME/config/config.toml"
"$BANGER" daemon start >/dev/null || fail_stop "banger daemon start failed"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" 6=/dev/null 7=/dev/null)
check "Create with an empty rootfs: refused, saying so" bash -c '! grep -qx "code=0" <<<"$1" && grep -q "rootfs (.*) is empty" <<<"$1"' _ "$r"
ctr_images() { "$BANGER" image list --json | jq -r '(.images? // .)[] | select(.name | test("^ctr-[0-9a-f]{24}$")) | "\(.name) \(.created_unix_ms // .created // "")"'; }
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "$MNT" 6=/dev/null 7=/dev/null)
check "Create reaches VmService: its refusal of the shim's 2 labels comes back (RESOURCE_EXHAUSTED)" bash -c 'grep -qx "code=8" <<<"$1" && grep -q "2 labels; at most 1 (config vm.max_labels)" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" State 1=c1)
check "  and the task is not left created" grep -qx "code=5" <<<"$r"
imgs=$(ctr_images)
check "the rootfs became one image ctr-<24 hex> (ImageService upload + register)" [ "$(wc -l <<<"$imgs")" = 1 ]
check "  and the shim unmounted the bind mount" bash -c '! mountpoint -q "$1"' _ "$B/rootfs"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "$MNT" 6=/dev/null 7=/dev/null)
imgs2=$(ctr_images)
check "a second Create of the same rootfs builds nothing: the same image, not re-registered" bash -c 'grep -qx "code=8" <<<"$1" && [ "$2" = "$3" ]' _ "$r" "$imgs" "$imgs2"
echo changed >"$SRC/etc/banger-marker"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "$MNT" 6=/dev/null 7=/dev/null)
imgs2=$(ctr_images)
check "a changed rootfs is another image" [ "$(wc -l <<<"$imgs2")" = 2 ]
# A rootfs with no init and no sshd (busybox-like) is no longer refused: its
# VM gets banger's agent as init (CreateVmRequest.init = agent).
SRC2="$BANGER_HOME/src2"
mkdir -p "$SRC2/bin"
printf '#!/bin/sh\n' >"$SRC2/bin/sh"
chmod 755 "$SRC2/bin/sh"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "3:mount=bind|$SRC2|rbind,ro" 6=/dev/null 7=/dev/null)
check "Create with a rootfs without init or sshd: not refused, reaches VmService (its label refusal)" bash -c 'grep -qx "code=8" <<<"$1"' _ "$r"
check "  and it became an image too" [ "$(ctr_images | wc -l)" = 3 ]
# A pod's container runs in its sandbox's VM, which must exist.
cp "$B/config.json" "$B/config.json.good"
jq '.annotations = {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "sb1"}' \
        "$B/config.json.good" >"$B/config.json"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" 6=/dev/null 7=/dev/null)
check "Create of a pod's container without its sandbox's VM: NOT_FOUND naming the sandbox" bash -c 'grep -qx "code=5" <<<"$1" && grep -q "pod sandbox sb1 has no VM" <<<"$1"' _ "$r"
# The sandbox's own task boots banger's default image (its rootfs is the
# pause image's).
jq '.annotations = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "c1"}' \
        "$B/config.json.good" >"$B/config.json"
# An image banger cannot make (the build fails: no network in the test's
# namespace): the create operation fails after the VM row exists.
"$BANGER" daemon stop >/dev/null 2>&1
printf '[vm]\ndefault_image = "nosuchimage"\n' >"$BANGER_HOME/config/config.toml"
"$BANGER" daemon start >/dev/null || fail_stop "banger daemon start failed"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" 6=/dev/null 7=/dev/null)
check "Create whose VM cannot be made: the operation's error, naming the image" bash -c '! grep -qx "code=0" <<<"$1" && grep -q "creating VM failed: .*nosuchimage" <<<"$1"' _ "$r"
check "  and no VM is left behind" bash -c '[ -z "$("$1" vm list --json | jq -r ".[]?.name // empty, .vms[]?.name // empty" 2>/dev/null)" ] && ! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$BANGER"
mv "$B/config.json.good" "$B/config.json"

r=$($CALL "$SOCK" Shutdown 1=c1)
check "Shutdown: OK" grep -qx "code=0" <<<"$r"
check "  the serving shim exits" wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$SHIM_PID"
check "  and removes its socket" wait_for 5 test ! -e "$SOCK"

rc=0
(cd "$B" && "$SHIM" -namespace t1 -address "$ADDR_ARG" -id c1 delete >"$BANGER_HOME/del.out") || rc=$?
check "delete (banger up, no VM): exit 0" [ "$rc" = 0 ]
r=$($CALL --decode-delete "$BANGER_HOME/del.out")
check "delete prints a DeleteResponse with exit status 137" grep -qx "2=137" <<<"$r"
"$BANGER" daemon stop >/dev/null 2>&1 || true
rc=0
e=$(cd "$B" && "$SHIM" -namespace t1 -address "$ADDR_ARG" -id c1 delete 2>&1 >/dev/null) || rc=$?
check "delete with banger stopped fails and says why" bash -c '[ "$1" != 0 ] && grep -q "banger is not running" <<<"$2"' _ "$rc" "$e"
check "usage errors exit 2" bash -c '"$1" start 2>/dev/null; [ $? = 2 ]' _ "$SHIM"
finish
