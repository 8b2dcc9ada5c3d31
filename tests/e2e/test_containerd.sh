#!/usr/bin/env bash
# Issue #23, first slice, on a real VM: containerd 1.6 (Debian's, started here
# with a temporary config, root, state and socket) runs a task through
# containerd-shim-banger-v2:
#   ctr run --rm --runtime io.containerd.banger.v2 --rootfs DIR c1 sh -c 'echo hi; exit 3'
# prints "hi" and exits 3; `banger vm list` shows the task's VM (ctr-…)
# while it runs and not after; the shim process and its socket are gone.
# The VM runs banger's default image (the bundle's rootfs is not used yet:
# docs/kubernetes.md), so --rootfs is any directory.
# Then a task's processes: ctr run -d, ctr task exec (output, exit status),
# ctr task ps (the guest's processes of the task), ctr task metrics, ctr task
# kill -s SIGUSR1 (the task's own trap runs, it keeps running), kill, delete,
# the shim's task events as `ctr events` sees them;
# `echo x | ctr run … cat` (stdin) and `ctr run -t` under script(1) (a
# terminal in the guest, exit status).
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

# ---- a task's processes (shim/process.c): exec, kill -s, ps, metrics ----
R="$BANGER_HOME/rootfs"
RT=(--runtime io.containerd.banger.v2 --rootfs "$R")
"${CTR[@]}" events >"$BANGER_HOME/events" 2>&1 &
EVPID=$!
"${CTR[@]}" run -d "${RT[@]}" c2 sh -c \
        'trap "echo usr1 >/tmp/usr1" USR1; while :; do sleep 1; done' >/dev/null 2>"$BANGER_HOME/err2"
check "ctr run -d: the task runs" wait_for 60 bash -c '"$@" task ls | grep -q "^c2 .*RUNNING"' _ "${CTR[@]}"
t0=$(date +%s)
rc=0
out=$("${CTR[@]}" task exec --exec-id e1 c2 sh -c 'echo from-exec; exit 5' 2>&1) || rc=$?
echo "  ctr task exec (first, may wait for the guest's sshd): $(( $(date +%s) - t0 )) s"
check "ctr task exec prints the exec's output" grep -qx from-exec <<<"$out"
check "  and exits with its status (5)" [ "$rc" = 5 ]
# Pids opens an SSH connection to the guest: under load it can time out once.
check "ctr task ps lists the task's processes in the guest (sh and sleep: 2 or more)" \
        wait_for 90 bash -c '"$@" task ps c2 >"$0" 2>&1; [ "$(grep -cE "^[0-9]+ " "$0")" -ge 2 ]' \
        "$BANGER_HOME/ps.out" "${CTR[@]}"
[ "$T_FAILS" -eq 0 ] || { echo "---- ctr task ps:"; cat "$BANGER_HOME/ps.out"; }
out=$("${CTR[@]}" task metrics c2 2>&1) || true
check "ctr task metrics: the guest's memory use and CPU time" \
        bash -c 'grep -qE "^memory.usage_in_bytes +[1-9][0-9]*" <<<"$1" && grep -qE "^cpuacct.usage +[1-9][0-9]*" <<<"$1"' _ "$out"
check "ctr task kill -s SIGUSR1: OK" "${CTR[@]}" task kill -s SIGUSR1 c2
check "  the task's own trap ran (the signal reached the process)" wait_for 20 \
        bash -c '"$@" task exec --exec-id "u$RANDOM" c2 cat /tmp/usr1 2>/dev/null | grep -qx usr1' _ "${CTR[@]}"
check "  and the task still runs" bash -c '"$@" task ls | grep -q "^c2 .*RUNNING"' _ "${CTR[@]}"
check "ctr task kill (SIGTERM): the task stops" "${CTR[@]}" task kill c2
check "  STOPPED" wait_for 30 bash -c '"$@" task ls | grep -q "^c2 .*STOPPED"' _ "${CTR[@]}"
check "ctr task delete / container delete" bash -c '"$@" task delete c2 >/dev/null && "$@" container delete c2' _ "${CTR[@]}"
check "  the VM is gone" wait_for 30 bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"
check "the shim's task events reached containerd (ctr events: exec-added, exec-started, exit)" \
        bash -c 'grep -q " e2e /tasks/exec-added " "$1" && grep -q " e2e /tasks/exec-started " "$1" && grep -q " e2e /tasks/exit " "$1"' _ "$BANGER_HOME/events"
kill $EVPID 2>/dev/null || true

# ---- stdin and a terminal ----
out=$(echo x-from-stdin | timeout 400 "${CTR[@]}" run --rm "${RT[@]}" c3 cat 2>&1) || true
check "echo x | ctr run … cat: stdin reaches the task" grep -qx x-from-stdin <<<"$out"
if command -v script >/dev/null; then
        rc=0
        timeout 400 script -qec "stty rows 30 cols 100; ${CTR[*]} run --rm -t ${RT[*]} c4 sh -c 'tty; exit 4'" \
                "$BANGER_HOME/tty.out" >/dev/null </dev/null || rc=$?
        check "ctr run -t: the task runs on a terminal in the guest" grep -q "/dev/pts/" "$BANGER_HOME/tty.out"
        check "  and its exit status comes back (4)" [ "$rc" = 4 ]
else
        echo "script(1) is not installed: ctr run -t not tested"
fi
check "no VM left after the runs" bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"

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
