#!/usr/bin/env bash
# Issue #23 on a real VM: containerd 1.6 (Debian's, started here with a
# temporary config, root, state and socket) runs tasks through
# containerd-shim-banger-v2, the VM booting from the container's rootfs:
#   ctr run --rm --runtime io.containerd.banger.v2 --rootfs DIR c1 sh -c '…; echo hi; exit 3'
# prints "hi" and the marker file baked into DIR (a copy of the golden
# image's tree with /etc/banger-marker added: not banger's default image)
# and exits 3; `banger vm list` shows the task's VM (ctr-…) while it runs and
# not after; the shim process and its socket are gone. Then the same tree as
# an OCI image served by the local registry (tests/integration/registry_lib.sh),
# pulled by ctr and run: the shim bind-mounts containerd's snapshot
# (native snapshotter) and the process prints the marker.
# Then a task's processes: ctr run -d, ctr task exec (output, exit status),
# ctr task ps (the guest's processes of the task), ctr task metrics, ctr task
# kill -s SIGUSR1 (the task's own trap runs, it keeps running), kill, delete,
# the shim's task events as `ctr events` sees them, /tasks/oom for an exec
# that runs the guest out of memory;
# `echo x | ctr run … cat` (stdin) and `ctr run -t` under script(1) (a
# terminal in the guest, exit status); a shim SIGKILLed while its task runs
# (containerd cleans up after it: no VM, mount or socket left), vmsvc and the
# gateway SIGKILLed while a task runs (after `banger daemon start`, kill and
# delete leave nothing behind).
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace, containerd"
need_tools qemu-system-x86_64 mmdebstrap jq ip containerd ctr skopeo curl
[ -x /usr/bin/docker-registry ] || setup_fail "/usr/bin/docker-registry is missing (package docker-registry)"

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
T_PASSES=${T_PASSES:-0}
SHIM="$BIN/containerd-shim-banger-v2"
need_built "$SHIM"

check "daemon start" "$B" daemon start --timeout 30

C="$BANGER_HOME/ctrd"
mkdir -p "$C/root" "$C/state"
# The container's tree: the golden image's, plus a marker.
ROOTFS="$BANGER_HOME/rootfs"
mkdir -p "$ROOTFS" "$BANGER_HOME/gm"
mount -o loop,ro "$BANGER_HOME/state/images/golden/rootfs.ext4" "$BANGER_HOME/gm" ||
        setup_fail "cannot loop-mount the golden image"
tar -C "$BANGER_HOME/gm" -cf - . | tar -C "$ROOTFS" -xpf -
umount "$BANGER_HOME/gm"
MARK="banger-e2e-marker-$RANDOM$RANDOM"
echo "$MARK" >"$ROOTFS/etc/banger-marker"
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
REG_PID=""
# (set -e holds in the trap too: a failing kill or wait would be the exit code)
trap 'kill $CTRD $REG_PID 2>/dev/null || true; wait $CTRD 2>/dev/null || true; umount "$BANGER_HOME/gm" 2>/dev/null || true' EXIT
CTR=(ctr --address "$C/c.sock" --namespace e2e)
check "containerd answers" wait_for 30 "${CTR[@]}" version

t0=$(date +%s)
rc=0
"${CTR[@]}" run --rm --runtime io.containerd.banger.v2 --rootfs "$BANGER_HOME/rootfs" c1 \
        sh -c 'cat /etc/banger-marker; echo hi; exit 3' >"$BANGER_HOME/out" 2>"$BANGER_HOME/err" &
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
check "  from the container's rootfs (its marker file)" grep -qx "$MARK" "$BANGER_HOME/out"
check "ctr run exits with the task's exit code (3)" [ "$rc" = 3 ]
check "banger vm list showed the task's VM while it ran" [ "$seen" = yes ]
check "  and not after" bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"
check "the shim exited" wait_for 15 bash -c '! pgrep -f "containerd-shim-banger-v2 .*-address $1 .*-id c1$" >/dev/null' _ "$C/c.sock"
check "  and removed its socket" bash -c '[ -z "$(ls -A "$1" 2>/dev/null)" ]' _ "$BANGER_SHIM_SOCKET_DIR"
check "containerd has no task left" bash -c '[ -z "$("$@" task list -q)" ]' _ "${CTR[@]}"

# ---- a task's processes (shim/process.c): exec, kill -s, ps, metrics ----
RT=(--runtime io.containerd.banger.v2 --rootfs "$ROOTFS")
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
# An OOM kill in the guest (shim/oom.c): two 700 MiB buffers in a 1 GiB VM
# (each alone passes the kernel's overcommit check); the kernel kills one.
t0=$(date +%s)
"${CTR[@]}" task exec --exec-id oom c2 sh -c \
        'dd if=/dev/zero of=/dev/null bs=700M count=1 & dd if=/dev/zero of=/dev/null bs=700M count=1; wait' \
        >"$BANGER_HOME/oom.out" 2>&1 || true
check "an exec that runs the guest out of memory: ctr events shows /tasks/oom for c2" \
        wait_for 30 bash -c 'grep " e2e /tasks/oom " "$1" | grep -q "\"c2\""' _ "$BANGER_HOME/events"
echo "  OOM exec and its event: $(( $(date +%s) - t0 )) s"
[ "$T_FAILS" -eq 0 ] || { echo "---- the OOM exec:"; cat "$BANGER_HOME/oom.out"; echo "---- events:"; cat "$BANGER_HOME/events"; }
check "  the task still runs" bash -c '"$@" task ls | grep -q "^c2 .*RUNNING"' _ "${CTR[@]}"
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

# ---- the same tree as an image from the local registry ----
. "$(dirname "$0")/../integration/registry_lib.sh"
registry_up "$BANGER_HOME/reg"
L="$BANGER_HOME/reg/marker"
mkdir -p "$L/blobs/sha256"
tar -C "$ROOTFS" -cf "$BANGER_HOME/layer.tar" .
ld=$(sha256sum "$BANGER_HOME/layer.tar" | cut -d' ' -f1)
mv "$BANGER_HOME/layer.tar" "$L/blobs/sha256/$ld"
blob() { local d; d=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1); printf '%s' "$1" >"$L/blobs/sha256/$d"; echo "$d $(printf '%s' "$1" | wc -c)"; }
read -r cd cs < <(blob '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$ld"'"]}}')
read -r md ms < <(blob '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$cd"'","size":'"$cs"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$ld"'","size":'"$(stat -c %s "$L/blobs/sha256/$ld")"'}]}')
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
echo '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$md"'","size":'"$ms"',"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' >"$L/index.json"
check "the marker image is pushed to the local registry" registry_push marker:v1 test/marker:v1
IMG="$R/test/marker:v1"
check "ctr pulls it (native snapshotter)" "${CTR[@]}" image pull --plain-http --snapshotter native "$IMG"
t0=$(date +%s)
rc=0
"${CTR[@]}" run --rm --snapshotter native --runtime io.containerd.banger.v2 "$IMG" c5 \
        cat /etc/banger-marker >"$BANGER_HOME/out5" 2>"$BANGER_HOME/err5" || rc=$?
echo "  ctr run (registry image): $(( $(date +%s) - t0 )) s"
check "ctr run IMAGE prints the image's marker file" grep -qx "$MARK" "$BANGER_HOME/out5"
check "  and exits 0" [ "$rc" = 0 ]
# ---- killed midway: the shim, then banger's services ----
# A shim that dies (SIGKILL) while its task runs: containerd runs the shim's
# `delete` for it, and the task's VM, its rootfs mount and the shim's socket
# go. Then vmsvc and the gateway die while a task runs: once banger is back
# (`banger daemon start`), ctr task kill and delete leave nothing behind.
"${CTR[@]}" run -d "${RT[@]}" k1 sleep 3600 >/dev/null 2>"$BANGER_HOME/errk1" || true
check "ctr run -d k1: the task runs" wait_for 120 bash -c '"$@" task ls | grep -q "^k1 .*RUNNING"' _ "${CTR[@]}"
SPID=$(pgrep -f "containerd-shim-banger-v2 .*-address $C/c.sock .*-id k1\$" | head -1 || true)
check "  its shim is there" [ -n "$SPID" ]
[ -z "$SPID" ] || kill -9 "$SPID"
check "shim SIGKILLed: containerd cleans up after it, and the task's VM is gone" \
        wait_for 120 bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"
check "  the task does not run any more" wait_for 60 bash -c '! "$@" task ls | grep -q "^k1 .*RUNNING"' _ "${CTR[@]}"
"${CTR[@]}" task delete -f k1 >/dev/null 2>&1 || true
"${CTR[@]}" container delete k1 >/dev/null 2>&1 || true
check "  no rootfs mount and no shim socket left" bash -c \
        '! grep -q "/e2e/k1/rootfs" /proc/mounts && [ -z "$(ls -A "$1" 2>/dev/null)" ]' _ "$BANGER_SHIM_SOCKET_DIR"
"${CTR[@]}" run -d "${RT[@]}" k2 sleep 3600 >/dev/null 2>"$BANGER_HOME/errk2" || true
check "ctr run -d k2: the task runs" wait_for 120 bash -c '"$@" task ls | grep -q "^k2 .*RUNNING"' _ "${CTR[@]}"
VPID=$(cut -d' ' -f1 "$BANGER_HOME/run/vmsvc.pid" 2>/dev/null || true)
GPID=$(cut -d' ' -f1 "$BANGER_HOME/run/gateway.pid" 2>/dev/null || true)
check "  vmsvc's and the gateway's pids are known" bash -c '[ -n "$1" ] && [ -n "$2" ]' _ "$VPID" "$GPID"
kill -9 $VPID $GPID 2>/dev/null || true
check "vmsvc and the gateway SIGKILLed while k2 runs" \
        wait_for 15 bash -c '! kill -0 "$1" 2>/dev/null && ! kill -0 "$2" 2>/dev/null' _ "$VPID" "$GPID"
check "  banger comes back (daemon start)" "$B" daemon start --timeout 60
check "  the task's VM still runs" bash -c '"$1" vm list 2>/dev/null | grep -q "ctr-.* running"' _ "$B"
check "  ctr task kill k2: the task stops" bash -c \
        '"$@" task kill -s SIGKILL k2 && for _ in $(seq 60); do "$@" task ls | grep -q "^k2 .*STOPPED" && exit 0; sleep 1; done; exit 1' _ "${CTR[@]}"
check "  ctr task delete / container delete" bash -c '"$@" task delete k2 >/dev/null && "$@" container delete k2' _ "${CTR[@]}"
check "  nothing is left: no VM, no rootfs mount, no shim" bash -c \
        'for _ in $(seq 60); do ! "$1" vm list 2>/dev/null | grep -q "ctr-" && ! grep -q "/e2e/k2/rootfs" /proc/mounts && ! pgrep -f "containerd-shim-banger-v2 .*-id k2\$" >/dev/null && exit 0; sleep 1; done; exit 1' _ "$B"

# A rootfs with no init and no sshd (Debian's busybox-static and its applet
# links in /bin, no /usr/bin/env): the VM runs banger's agent as init and the
# task's process goes through the agent.
BUSYBOX=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/busybox$' || true)
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || setup_fail "busybox-static is not installed (scripts/install-deps.sh)"
BB="$BANGER_HOME/bbroot"
mkdir -p "$BB/bin"
cp "$BUSYBOX" "$BB/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$BB/bin/$a"; done
t0=$(date +%s)
rc6=0
"${CTR[@]}" run --rm --runtime io.containerd.banger.v2 --rootfs "$BB" c6 \
        sh -c 'echo hi-from-busybox; exit 3' >"$BANGER_HOME/out6" 2>"$BANGER_HOME/err6" || rc6=$?
echo "  ctr run (busybox rootfs, agent as init): $(( $(date +%s) - t0 )) s"
check "ctr run of a busybox rootfs (no init, no sshd) prints the task's output" grep -qx hi-from-busybox "$BANGER_HOME/out6"
check "  and exits with its exit code (3)" [ "$rc6" = 3 ]
check "the rootfs images are kept for the next run (ctr-<24 hex>)" bash -c '"$1" image list | grep -Eq "ctr-[0-9a-f]{24}"' _ "$B"
check "no VM is left" bash -c '! "$1" vm list 2>/dev/null | grep -q "ctr-"' _ "$B"
check "no rootfs mount is left" bash -c '! grep -q "$1" /proc/mounts' _ "$C/state"

if [ "$T_FAILS" -gt 0 ]; then
        echo "---- ctr run busybox exit code $rc6:" >&2; head -c 2000 "$BANGER_HOME/out6" 2>/dev/null >&2; tail -20 "$BANGER_HOME/err6" >&2 2>/dev/null
        echo "---- ctr run IMAGE exit code $rc, stdout:" >&2; head -c 2000 "$BANGER_HOME/out5" 2>/dev/null >&2
        echo "---- ctr stderr" >&2; tail -20 "$BANGER_HOME/err5" >&2 2>/dev/null
        echo "---- ctr exit code $rc, stdout:" >&2; head -c 2000 "$BANGER_HOME/out" >&2
        echo "---- ctr stderr" >&2; tail -20 "$BANGER_HOME/err" >&2
        for l in workspacesvc vmsvc; do
                echo "---- $l log" >&2; tail -n 12 "$BANGER_HOME/state/logs/$l.log" | cut -c1-400 >&2
        done
        echo "---- containerd log (shim lines and warnings)" >&2
        grep -v "level=info" "$C/containerd.log" | tail -30 >&2
fi
finish
