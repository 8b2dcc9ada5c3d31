#!/usr/bin/env bash
# Issue #23, the task's processes: containerd-shim-banger-v2 against a fake
# gateway (fake_shim_gateway: VmService and WorkspaceService acting as a VM
# would) and a fake containerd events service (ttrpc_call.py --events-sink),
# driven over its ttrpc socket by ttrpc_call.py. No VM boots; what reaches
# the VM is checked in the fake gateway's log.
#   - Start runs process.args through env (PATH) with process.env and the
#     task marker BANGER_TASK_ID, with stream_stdin when containerd gave a
#     stdin FIFO; bytes written to that FIFO reach ExecInput, its end is an
#     eof;
#   - Kill sends the signal itself with kill(1) in the guest, to the
#     processes with the process's marker BANGER_EXEC_ID (SIGUSR1 leaves it
#     running; TERM ends it with 143), refuses signal 0 and > 64;
#   - Exec: a second process from an OCI Process spec (args, env, cwd,
#     terminal): State/Start/ResizePty/CloseIO/Wait/Delete by exec id, a
#     duplicate id or a spec without args refused, Kill before Start ends it
#     with 137; Exec before the task runs is FAILED_PRECONDITION;
#   - a Kill answers before the exit of the processes it ended is reported
#     (the fake guest answers the kill 2 s late);
#   - Pids lists the guest's processes that carry the marker (and drops
#     lines a hostile guest could add); Stats is an
#     io.containerd.cgroups.v1.Metrics with the guest's numbers;
#   - OOM kills: while the task runs the shim polls VmService/Stats and
#     sends /tasks/oom (TaskOOM with the container id) once per rise of the
#     guest's oom_kills count past its highest; a count that goes down (a
#     hostile guest) raises none; Stats carries the count in
#     memory_oom_control.oom_kill;
#   - a pod's container: Create copies its rootfs into the sandbox's VM
#     (a tar stream through StartExec + ExecInput: file modes, owners,
#     symlinks as symlinks, a FIFO, a sparse file; a socket left out) at
#     /var/lib/banger/pods/ctr-<16 hex>, and its processes run there
#     through `banger-agent enter` (root, cgroup, cwd, user); Delete and `shim
#     delete` remove the tree; a copy the guest fails (its disk full) fails
#     Create with tar's message and removes the partial tree; a rootfs over
#     BANGER_SHIM_MAX_ROOTFS is refused and its copy cancelled;
#   - the task events reach containerd's Events/Forward in order, in the
#     task's namespace: create, start, exec-added, exec-started, exit (of
#     each exec and of the init process), delete.
# Usage: test_shim_process.sh FAKE_SHIM_GATEWAY
. "$(dirname "$0")/testlib.sh"
FAKE=${1:?usage: test_shim_process.sh FAKE_SHIM_GATEWAY}
need_tools python3
SHIM="$BIN/containerd-shim-banger-v2"
need_built "$SHIM"
CALL="python3 $(cd "$(dirname "$0")" && pwd)/ttrpc_call.py"
new_home

mkdir -p "$RUN"
LOG="$BANGER_HOME/gw.log"
: >"$LOG"
"$FAKE" "ipc://$RUN/gateway.sock" "$LOG" >"$BANGER_HOME/fake.out" 2>&1 &
wait_for 10 test -S "$RUN/gateway.sock" || fail_stop "the fake gateway did not start"
EVENTS="$BANGER_HOME/events"
: >"$EVENTS"
$CALL --events-sink "$BANGER_HOME/ev.sock" "$EVENTS" &
wait_for 10 test -S "$BANGER_HOME/ev.sock" || fail_stop "the events sink did not start"
export TTRPC_ADDRESS="$BANGER_HOME/ev.sock"

export BANGER_SHIM_SOCKET_DIR="$BANGER_HOME/s"
B="$BANGER_HOME/bundle"
# The task's rootfs: an init and sshd are all the shim checks for (the fake
# gateway says its image exists, so nothing is built).
mkdir -p "$B/rootfs/sbin" "$B/rootfs/usr/sbin"
printf '#!/bin/sh\n' >"$B/rootfs/sbin/init"
printf '#!/bin/sh\n' >"$B/rootfs/usr/sbin/sshd"
chmod 0755 "$B/rootfs/sbin/init" "$B/rootfs/usr/sbin/sshd"
cat >"$B/config.json" <<'EOF'
{"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", "run"],
 "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/srv"}, "root": {"path": "rootfs"}}
EOF
SOCK=$(cd "$B" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id c1 start)
SOCK=${SOCK#unix://}
[ -S "$SOCK" ] || fail_stop "the shim did not start"

# FIFOs as containerd makes them; a reader on each output.
for f in in out ein eout; do mkfifo "$B/$f"; done
cat "$B/out" >"$B/out.txt" &
cat "$B/eout" >"$B/eout.txt" &

has() { grep -qF -- "$2" "$1"; }
field() { grep -qx -- "$2" <<<"$1"; }

r=$($CALL "$SOCK" Exec 1=c1 2=e0 '7:spec={"args":["true"]}')
check "Exec before Create: NOT_FOUND" field "$r" "code=5"
r=$($CALL "$SOCK" Create 1=c1 "2=$B" "5=$B/in" "6=$B/out" "7=$B/out")
check "Create: OK" field "$r" "code=0"
check "  VmService/Create was asked for the task's VM" has "$LOG" "VmCreate ctr-"
r=$($CALL "$SOCK" Exec 1=c1 2=e0 '7:spec={"args":["true"]}')
check "Exec before the task runs: FAILED_PRECONDITION (9)" field "$r" "code=9"

r=$($CALL "$SOCK" Start 1=c1)
check "Start: OK" field "$r" "code=0"
check "  the command: process.env and the task marker through env, then process.args" \
        has "$LOG" "argv: env PATH=/usr/sbin:/usr/bin:/sbin:/bin BANGER_TASK_ID=c1 BANGER_EXEC_ID= sh -c run"
check "  in process.cwd, stdin streamed (containerd gave a stdin FIFO), no tty" \
        has "$LOG" "cwd=/srv stream_stdin=1 tty=0"
r=$($CALL "$SOCK" State 1=c1)
check "State: RUNNING (2), with the stdin path" bash -c 'grep -qx "4=2" <<<"$1" && grep -qx "5=$2/in" <<<"$1"' _ "$r" "$B"

# stdin: what containerd writes to the FIFO reaches the command.
exec 7>"$B/in"
printf 'hello\n' >&7
check "stdin: bytes written to the FIFO reach ExecInput" wait_for 10 has "$LOG" "ExecInput x1 6 bytes"
exec 7>&-
check "stdin: its end is an eof" wait_for 10 has "$LOG" "ExecInput x1 eof"

r=$($CALL "$SOCK" Kill 1=c1 3:int=10)
check "Kill SIGUSR1: OK, kill(1) in the guest for the init's marker" bash -c 'grep -qx "code=0" <<<"$1" && grep -qxF "Exec kill BANGER_EXEC_ID= 10 all=0" "$2"' _ "$r" "$LOG"
sleep 0.5
r=$($CALL "$SOCK" State 1=c1)
check "  and the process still runs" field "$r" "4=2"
r=$($CALL "$SOCK" Kill 1=c1 3:int=0)
check "Kill with signal 0: INVALID_ARGUMENT" field "$r" "code=3"
r=$($CALL "$SOCK" Kill 1=c1 3:int=65)
check "Kill with signal 65: INVALID_ARGUMENT" field "$r" "code=3"
r=$($CALL "$SOCK" ResizePty 1=c1 3:int=100 4:int=40)
check "ResizePty of a process without a terminal: OK, nothing sent" bash -c 'grep -qx "code=0" <<<"$1" && ! grep -q "x1 resize" "$2"' _ "$r" "$LOG"

# ---- OOM kills ----
OOM="$LOG.oom"
check "OOM: the shim watches the guest's count while the task runs" wait_for 10 has "$LOG" "VmStats oom=0"
echo 3 >"$OOM"
check "  a rise (0 -> 3): one /tasks/oom, TaskOOM for c1" \
        wait_for 10 grep -q " /tasks/oom containerd.events.TaskOOM 1=c1$" "$EVENTS"
echo 1 >"$OOM"
check "  the count goes down (3 -> 1): seen" wait_for 10 has "$LOG" "VmStats oom=1"
echo 3 >"$OOM"
check "  and back to 3: seen" wait_for 10 has "$LOG" "VmStats oom=3"
sleep 2.5
check "  neither raised an event (3 is no new high)" [ "$(grep -c " /tasks/oom " "$EVENTS")" -eq 1 ]
echo 18446744073709551615 >"$OOM"
check "  an absurd jump (3 -> 2^64-1): one more event" \
        wait_for 10 bash -c '[ "$(grep -c " /tasks/oom " "$1")" -eq 2 ]' _ "$EVENTS"
r=$($CALL --dump "$SOCK" Stats 1=c1)
check "  Stats: memory_oom_control.oom_kill is the guest's count" field "$r" "1.2.9.3=18446744073709551615"

# ---- Exec ----
r=$($CALL "$SOCK" Exec 1=c1 2=e1 3:int=1 "4=$B/ein" "5=$B/eout" \
        '7:spec={"args":["cat"],"env":["A=b"],"cwd":"/tmp","terminal":true}')
check "Exec e1: OK" field "$r" "code=0"
r=$($CALL "$SOCK" Exec 1=c1 2=e1 '7:spec={"args":["cat"]}')
check "Exec with an id in use: ALREADY_EXISTS (6)" field "$r" "code=6"
r=$($CALL "$SOCK" Exec 1=c1 2=e9 '7:spec={"cwd":"/"}')
check "Exec of a spec without args: INVALID_ARGUMENT naming process.args" bash -c 'grep -qx "code=3" <<<"$1" && grep -q "process.args" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" Exec 1=c1 2=e9 '7:spec={"args":["x"],"cwd":"relative"}')
check "Exec of a spec with a relative cwd: INVALID_ARGUMENT" field "$r" "code=3"
r=$($CALL "$SOCK" State 1=c1 2=e1)
check "State of e1: CREATED (1), terminal, its exec id" bash -c 'grep -qx "4=1" <<<"$1" && grep -qx "8=1" <<<"$1" && grep -qx "11=e1" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" ResizePty 1=c1 2=e1 3:int=100 4:int=40)
check "ResizePty before Start: OK" field "$r" "code=0"
r=$($CALL "$SOCK" Start 1=c1 2=e1)
check "Start e1: OK" field "$r" "code=0"
check "  its command: the spec's env, the marker, its args; in its cwd, on a tty of the size asked" \
        bash -c 'grep -qF "argv: env A=b BANGER_TASK_ID=c1 BANGER_EXEC_ID=e1 cat" "$1" && grep -qF "cwd=/tmp stream_stdin=1 tty=1" "$1" && grep -qF "tty 40x100" "$1"' _ "$LOG"
r=$($CALL "$SOCK" ResizePty 1=c1 2=e1 3:int=132 4:int=50)
check "ResizePty e1 while it runs: the new size reaches the terminal" bash -c 'grep -qx "code=0" <<<"$1" && grep -qF "resize 50x132" "$2"' _ "$r" "$LOG"
exec 8>"$B/ein"
printf 'ping\n' >&8
check "e1's stdin reaches it (cat echoes to its stdout FIFO)" wait_for 10 grep -qx ping "$B/eout.txt"
r=$($CALL "$SOCK" CloseIO 1=c1 2=e1 3:int=1)
check "CloseIO e1: OK" field "$r" "code=0"
r=$($CALL "$SOCK" Wait 1=c1 2=e1)
check "  cat sees the end of its input and exits 0 (Wait e1)" bash -c 'grep -qx "code=0" <<<"$1" && ! grep -q "^1=" <<<"$1"' _ "$r"
exec 8>&-
r=$($CALL "$SOCK" State 1=c1 2=e1)
check "State of e1: STOPPED (3)" field "$r" "4=3"
r=$($CALL "$SOCK" Delete 1=c1 2=e1)
check "Delete e1: OK" field "$r" "code=0"
r=$($CALL "$SOCK" State 1=c1 2=e1)
check "  then e1 is NOT_FOUND" field "$r" "code=5"
r=$($CALL "$SOCK" State 1=c1)
check "  and the task still runs" field "$r" "4=2"

r=$($CALL "$SOCK" Exec 1=c1 2=e2 '7:spec={"args":["sleep","1000"]}')
check "Exec e2: OK" field "$r" "code=0"
r=$($CALL "$SOCK" Kill 1=c1 2=e2 3:int=9)
check "Kill e2 before its Start: OK" field "$r" "code=0"
r=$($CALL "$SOCK" Wait 1=c1 2=e2)
check "  it ends with 137" field "$r" "1=137"
r=$($CALL "$SOCK" Delete 1=c1 2=e2)
check "  Delete e2: OK, exit status 137" bash -c 'grep -qx "code=0" <<<"$1" && grep -qx "2=137" <<<"$1"' _ "$r"
r=$($CALL "$SOCK" Delete 1=c1 2=nosuch)
check "Delete of an unknown exec: NOT_FOUND" field "$r" "code=5"

# ---- Pids / Stats ----
r=$($CALL --dump "$SOCK" Pids 1=c1)
check "Pids: the processes with the marker (1234, 77); junk lines dropped" \
        bash -c '[ "$(grep "^1\.1=" <<<"$1" | tr "\n" " ")" = "1.1=1234 1.1=77 " ]' _ "$r"
check "  asked the guest for BANGER_TASK_ID=c1" has "$LOG" "Exec pids BANGER_TASK_ID=c1"
r=$($CALL --dump "$SOCK" Stats 1=c1)
check "Stats: an io.containerd.cgroups.v1.Metrics" field "$r" "1.1=io.containerd.cgroups.v1.Metrics"
check "  memory usage = total - available, limit = total" bash -c 'grep -qx "1.2.4.33.2=268435456" <<<"$1" && grep -qx "1.2.4.33.1=1073741824" <<<"$1"' _ "$r"
check "  cpu total/kernel/user in ns" bash -c 'grep -qx "1.2.3.1.1=2100000000" <<<"$1" && grep -qx "1.2.3.1.2=500000000" <<<"$1" && grep -qx "1.2.3.1.3=1600000000" <<<"$1"' _ "$r"
check "  pids.current: the guest's tasks" field "$r" "1.2.2.1=42"

# ---- the end ----
r=$($CALL "$SOCK" Exec 1=c1 2=e3 '7:spec={"args":["sleep","1000"]}')
r=$($CALL "$SOCK" Start 1=c1 2=e3)
check "Exec and Start e3: OK" field "$r" "code=0"
# The guest answers the kill 2 s after the processes ended: their exits are
# reported after the Kill's answer, not before (containerd deletes the task
# on the exit and would close the connection the answer comes back on).
touch "$LOG.slowkill"
$CALL "$SOCK" Kill 1=c1 3:int=15 4:int=1 >"$BANGER_HOME/kill.out" &
KPID=$!
wait_for 10 grep -qxF "Exec kill BANGER_TASK_ID=c1 15 all=1" "$LOG"
sleep 1
check "  while the Kill is under way, its processes' exits are not reported yet" \
        bash -c '! grep -qE " /tasks/exit containerd.events.TaskExit 1=c1 2=(c1|e3) " "$1"' _ "$EVENTS"
wait "$KPID"
rm -f "$LOG.slowkill"
r=$(cat "$BANGER_HOME/kill.out")
check "Kill SIGTERM with all: every process of the task (BANGER_TASK_ID)" bash -c 'grep -qx "code=0" <<<"$1" && grep -qxF "Exec kill BANGER_TASK_ID=c1 15 all=1" "$2"' _ "$r" "$LOG"
check "  and once it answered, they are" wait_for 10 \
        bash -c 'grep -qE " /tasks/exit containerd.events.TaskExit 1=c1 2=c1 " "$1" && grep -qE " /tasks/exit containerd.events.TaskExit 1=c1 2=e3 " "$1"' _ "$EVENTS"
r=$($CALL "$SOCK" Wait 1=c1 2=e3)
check "  e3 ends with 143" field "$r" "1=143"
r=$($CALL "$SOCK" Wait 1=c1)
check "  the task ends with 143" field "$r" "1=143"
check "  its output reached the stdout FIFO" wait_for 5 grep -qx "signal 15" "$B/out.txt"
r=$($CALL "$SOCK" Kill 1=c1 3:int=15)
check "Kill after the end: NOT_FOUND" field "$r" "code=5"
r=$($CALL "$SOCK" Delete 1=c1)
check "Delete: OK, exit 143, the VM deleted" bash -c 'grep -qx "code=0" <<<"$1" && grep -qx "2=143" <<<"$1" && grep -qx VmDelete "$2"' _ "$r" "$LOG"

check "events: all twelve reached containerd" wait_for 10 bash -c '[ "$(wc -l <"$1")" -ge 12 ]' _ "$EVENTS"
topics=$(awk '$3 != "/tasks/oom" {print $3}' "$EVENTS" | tr '\n' ' ')
check "events in order: create start, e1's exec-added exec-started exit, e2's exec-added exit, e3's exec-added exec-started, two exits, delete" \
        [ "$topics" = "/tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/exit /tasks/exec-added /tasks/exit /tasks/exec-added /tasks/exec-started /tasks/exit /tasks/exit /tasks/delete " ]
check "events: Forward calls in namespace t1 with containerd's type names; e1's exit (status 0)" \
        bash -c 'awk "{print \$1, \$2}" "$1" | sort -u | grep -qx "containerd.services.events.ttrpc.v1.Events/Forward t1" && grep -q " /tasks/exit containerd.events.TaskExit 1=c1 2=e1 3=[0-9]*$" "$1"' _ "$EVENTS"
check "  the init's exit: TaskExit id c1, status 143" grep -q " /tasks/exit containerd.events.TaskExit 1=c1 2=c1 3=[0-9]* 4=143" "$EVENTS"
check "  and e2's: 137" grep -q " /tasks/exit containerd.events.TaskExit 1=c1 2=e2 3=[0-9]* 4=137" "$EVENTS"
check "OOM: no more events after the rise to 2^64-1 (two in all, the last look after the end raised none)" \
        [ "$(grep -c " /tasks/oom " "$EVENTS")" -eq 2 ]
r=$($CALL "$SOCK" Shutdown 1=c1)
check "Shutdown: OK" field "$r" "code=0"

# ---- a pod sandbox's task: its process is the VM ----
# The CRI plugin's sandbox runs the pause image's /pause, which the VM
# (booted from banger's default image) has not: nothing runs in the guest;
# the process runs until Kill (containerd deletes the sandbox's task, and so
# its VM, when it ends).
P="$BANGER_HOME/pod"
mkdir -p "$P/rootfs"
cat >"$P/config.json" <<'EOF2'
{"ociVersion": "1.0.2", "process": {"args": ["/pause"], "cwd": "/"}, "root": {"path": "rootfs"},
 "annotations": {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "sb1"}}
EOF2
PSOCK=$(cd "$P" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id sb1 start)
PSOCK=${PSOCK#unix://}
r=$($CALL "$PSOCK" Create 1=sb1 "2=$P")
check "a pod sandbox's task: Create OK" field "$r" "code=0"
r=$($CALL "$PSOCK" Start 1=sb1)
check "  Start: OK, and nothing is run in the guest (no /pause)" \
        bash -c 'grep -qx "code=0" <<<"$1" && ! grep -qF "BANGER_TASK_ID=sb1" "$2"' _ "$r" "$LOG"
r=$($CALL "$PSOCK" State 1=sb1)
check "  State: RUNNING" field "$r" "4=2"
r=$($CALL "$PSOCK" Kill 1=sb1 3:int=9)
check "  Kill SIGKILL (StopPodSandbox): OK, no guest call" \
        bash -c 'grep -qx "code=0" <<<"$1" && ! grep -qF "Exec kill BANGER_EXEC_ID= 9" "$2"' _ "$r" "$LOG"
r=$($CALL "$PSOCK" Wait 1=sb1)
check "  it ends with 137" field "$r" "1=137"
check "  TaskExit for sb1 (137) reached containerd" \
        wait_for 10 grep -q " /tasks/exit containerd.events.TaskExit 1=sb1 2=sb1 3=[0-9]* 4=137" "$EVENTS"
r=$($CALL "$PSOCK" Delete 1=sb1)
check "  Delete: OK, exit 137" bash -c 'grep -qx "code=0" <<<"$1" && grep -qx "2=137" <<<"$1"' _ "$r"
r=$($CALL "$PSOCK" Shutdown 1=sb1)

# A process whose VM is gone (a pod's VM deleted under its container): Kill
# cannot reach the guest (Exec: NOT_FOUND), and the process ends with it.
V="$BANGER_HOME/vmgone"
mkdir -p "$V"
cp -r "$B/rootfs" "$B/config.json" "$V/"
VSOCK=$(cd "$V" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id c9 start)
VSOCK=${VSOCK#unix://}
r=$($CALL "$VSOCK" Create 1=c9 "2=$V" 6=/dev/null 7=/dev/null)
r2=$($CALL "$VSOCK" Start 1=c9)
check "a task c9: Create and Start OK" bash -c 'grep -qx "code=0" <<<"$1" && grep -qx "code=0" <<<"$2"' _ "$r" "$r2"
touch "$LOG.novm"
r=$($CALL "$VSOCK" Kill 1=c9 3:int=15)
check "  its VM gone (Exec NOT_FOUND): Kill SIGTERM is OK" field "$r" "code=0"
r=$($CALL "$VSOCK" Wait 1=c9)
check "  and the process ended with its VM: 143" field "$r" "1=143"
rm -f "$LOG.novm"
$CALL "$VSOCK" Delete 1=c9 >/dev/null
$CALL "$VSOCK" Shutdown 1=c9 >/dev/null
# A pod's container: its image's tree is copied into the sandbox's VM and
# its processes run in that tree.
PC="$BANGER_HOME/podc"
mkdir -p "$PC/rootfs/bin" "$PC/rootfs/srv"
printf 'app\n' >"$PC/rootfs/app"
chmod 0640 "$PC/rootfs/app"
chown 1234:5678 "$PC/rootfs/app"
ln -s /app "$PC/rootfs/bin/link"
ln -s /etc/shadow "$PC/rootfs/escape" # kept as a symlink, never followed
mkfifo "$PC/rootfs/fifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$PC/rootfs/sock"
truncate -s 10M "$PC/rootfs/sparse"
cat >"$PC/config.json" <<'EOF'
{"ociVersion": "1.0.2", "process": {"args": ["/bin/app", "x"], "env": ["PATH=/bin"],
 "cwd": "/srv", "user": {"uid": 1000, "gid": 100, "additionalGids": [7]}}, "root": {"path": "rootfs"},
 "annotations": {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "sb1"}}
EOF
SBVM="ctr-$(printf t1/sb1 | sha256sum | cut -c1-16)"
PROOT="/var/lib/banger/pods/ctr-$(printf t1/pc1 | sha256sum | cut -c1-16)"
PCG="/sys/fs/cgroup/banger-pods/${PROOT##*/}"
PCSOCK=$(cd "$PC" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id pc1 start)
PCSOCK=${PCSOCK#unix://}
r=$($CALL "$PCSOCK" Create 1=pc1 "2=$PC" 6=/dev/null 7=/dev/null)
check "a pod's container: Create OK" field "$r" "code=0"
[ "$T_FAILS" -eq 0 ] || echo "Create: $r"
check "  its rootfs went to tar -x in the sandbox's VM, at $PROOT" \
        grep -q "^StartExec x[0-9]* vm=$SBVM cwd=/ stream_stdin=1 tty=0 argv: /bin/sh -c .*tar -x .* sh $PROOT\$" "$LOG"
T=$(tar -tvf "$LOG.tar" 2>&1) || true
check "  the stream is a tar of the tree: the file with its mode and owner" \
        grep -qE '^-rw-r----- 1234/5678 +4 .* (\./)?app$' <<<"$T"
check "  symlinks as symlinks (not followed)" \
        bash -c 'grep -qE " (\./)?escape -> /etc/shadow$" <<<"$1" && grep -qE " (\./)?bin/link -> /app$" <<<"$1"' _ "$T"
check "  the FIFO and the 10 MiB sparse file" \
        bash -c 'grep -qE "^p.* (\./)?fifo$" <<<"$1" && grep -qE " 10485760 .* (\./)?sparse$" <<<"$1"' _ "$T"
check "  no socket (tar holds none)" bash -c '! grep -qE " (\./)?sock$" <<<"$1"' _ "$T"
check "  the tar is shorter than the sparse file (holes are not sent)" \
        [ "$(stat -c %s "$LOG.tar")" -lt 1048576 ]
[ "$T_FAILS" -eq 0 ] || echo "$T"
r=$($CALL "$PCSOCK" Start 1=pc1)
check "  Start: the process runs through banger-agent enter in the tree and its cgroup, cwd and user there" \
        bash -c 'grep -qx "code=0" <<<"$1" && grep -qF "vm=$2 cwd=/ stream_stdin=0 tty=0 argv: env PATH=/bin BANGER_TASK_ID=pc1 BANGER_EXEC_ID= /usr/sbin/banger-agent enter --root=$3 --cgroup=$5 --cwd=/srv --user=1000:100 --groups=7 -- /bin/app x" "$4"' _ "$r" "$SBVM" "$PROOT" "$LOG" "$PCG"
$CALL "$PCSOCK" Kill 1=pc1 3:int=9 >/dev/null
$CALL "$PCSOCK" Wait 1=pc1 >/dev/null
r=$($CALL "$PCSOCK" Delete 1=pc1)
check "  Delete: OK, the tree is removed from the sandbox's VM" \
        bash -c 'grep -qx "code=0" <<<"$1" && grep -qx "Exec remove $2 $3" "$4"' _ "$r" "$SBVM" "$PROOT" "$LOG"
$CALL "$PCSOCK" Shutdown 1=pc1 >/dev/null
: >"$LOG"
(cd "$PC" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id pc1 delete >/dev/null) || true
check "  shim delete (after a shim died) removes the tree too" grep -qx "Exec remove $SBVM $PROOT" "$LOG"

# The guest's tar fails (its disk is full): Create fails with tar's words,
# and the partial tree is removed.
touch "$LOG.tarfail"
: >"$LOG"
PCSOCK=$(cd "$PC" && "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id pc1 start)
PCSOCK=${PCSOCK#unix://}
r=$($CALL "$PCSOCK" Create 1=pc1 "2=$PC" 6=/dev/null 7=/dev/null)
check "a copy the guest fails: Create fails with tar's message" \
        bash -c '! grep -qx "code=0" <<<"$1" && grep -q "copying the container.s image into VM .* failed (exit 2): .*No space left on device" <<<"$1"' _ "$r"
check "  and the partial tree is removed" grep -qx "Exec remove $SBVM $PROOT" "$LOG"
rm -f "$LOG.tarfail"
$CALL "$PCSOCK" Shutdown 1=pc1 >/dev/null
# Over BANGER_SHIM_MAX_ROOTFS (64M; the sparse file counts in full): refused
# as it goes, the guest's tar cancelled, the partial tree removed.
truncate -s 100M "$PC/rootfs/sparse"
: >"$LOG"
PCSOCK=$(cd "$PC" && BANGER_SHIM_MAX_ROOTFS=64M "$SHIM" -namespace t1 -address "$BANGER_HOME/containerd.sock" -id pc1 start)
PCSOCK=${PCSOCK#unix://}
r=$($CALL "$PCSOCK" Create 1=pc1 "2=$PC" 6=/dev/null 7=/dev/null)
check "a rootfs over BANGER_SHIM_MAX_ROOTFS: Create fails naming the limit" \
        bash -c '! grep -qx "code=0" <<<"$1" && grep -q "more than 67108864 bytes of file data .*BANGER_SHIM_MAX_ROOTFS" <<<"$1"' _ "$r"
check "  the guest's tar is cancelled and the partial tree removed" \
        bash -c 'grep -q "^Cancel x" "$1" && grep -qx "Exec remove $2 $3" "$1"' _ "$LOG" "$SBVM" "$PROOT"
$CALL "$PCSOCK" Shutdown 1=pc1 >/dev/null
[ "$T_FAILS" -eq 0 ] || { echo "--- gateway log"; cat "$LOG"; echo "--- events"; cat "$EVENTS"; }
finish
