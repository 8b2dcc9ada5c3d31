#!/usr/bin/env bash
# Issue #23, first slice, on a real VM: containerd 1.6 (Debian's, started here
# with a temporary config, root, state and socket) runs a task through
# containerd-shim-banger-v2:
#   ctr run --rm --runtime io.containerd.banger.v2 --rootfs DIR c1 sh -c 'echo hi; exit 3'
# prints "hi" and exits 3; `banger vm list` shows the task's VM (ctr-…)
# while it runs and not after; the shim process and its socket are gone.
# The VM runs banger's default image (the bundle's rootfs is not used yet:
# docs/kubernetes.md), so --rootfs is any directory.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace, containerd"
need_tools qemu-system-x86_64 mmdebstrap jq ip containerd ctr

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
T_PASSES=${T_PASSES:-0}
SHIM="$BIN/containerd-shim-banger-v2"
need_built "$SHIM"

check "daemon start" "$B" daemon start --timeout 30

C="$BANGER_HOME/ctrd"
mkdir -p "$C/root" "$C/state" "$BANGER_HOME/rootfs"
export BANGER_SHIM_SOCKET_DIR="$BANGER_HOME/s"
cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/c.sock"
[ttrpc]
  address = "$C/c.sock.ttrpc"
EOF
# containerd finds containerd-shim-banger-v2 through PATH; the shim finds
# banger through BANGER_HOME (inherited).
PATH="$BIN:$PATH" containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
CTRD=$!
trap 'kill $CTRD 2>/dev/null; wait $CTRD 2>/dev/null' EXIT
CTR=(ctr --address "$C/c.sock" --namespace e2e)
check "containerd answers" wait_for 30 "${CTR[@]}" version

t0=$(date +%s)
rc=0
"${CTR[@]}" run --rm --runtime io.containerd.banger.v2 --rootfs "$BANGER_HOME/rootfs" c1 \
        sh -c 'echo hi; exit 3' >"$BANGER_HOME/out" 2>"$BANGER_HOME/err" &
RUNPID=$!
seen=""
while kill -0 $RUNPID 2>/dev/null; do
        if [ -z "$seen" ] && "$B" vm list 2>/dev/null | grep -q "ctr-"; then
                seen=yes
        fi
        sleep 2
done
wait $RUNPID || rc=$?
echo "  ctr run: $(( $(date +%s) - t0 )) s"
check "ctr run prints the task's output" grep -qx hi "$BANGER_HOME/out"
check "ctr run exits with the task's exit code (3)" [ "$rc" = 3 ]
check "banger vm list showed the task's VM while it ran" [ "$seen" = yes ]
check "  and not after" bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"
check "the shim exited" wait_for 15 bash -c '! pgrep -f "containerd-shim-banger-v2 .*-address $1 .*-id c1$" >/dev/null' _ "$C/c.sock"
check "  and removed its socket" bash -c '[ -z "$(ls -A "$1" 2>/dev/null)" ]' _ "$BANGER_SHIM_SOCKET_DIR"
check "containerd has no task left" bash -c '[ -z "$("$@" task list -q)" ]' _ "${CTR[@]}"
if [ "$T_FAILS" -gt 0 ]; then
        echo "---- ctr exit code $rc, stdout:" >&2; head -c 2000 "$BANGER_HOME/out" >&2
        echo "---- ctr stderr" >&2; tail -20 "$BANGER_HOME/err" >&2
        for l in workspacesvc vmsvc; do
                echo "---- $l log" >&2; tail -n 12 "$BANGER_HOME/state/logs/$l.log" | cut -c1-400 >&2
        done
        echo "---- containerd log (shim lines and warnings)" >&2
        grep -v "level=info" "$C/containerd.log" | tail -30 >&2
fi
finish
