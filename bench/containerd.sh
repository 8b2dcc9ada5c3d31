#!/usr/bin/env bash
# bench-containerd: banger as a containerd runtime, in one run.
#  1. `ctr run --rm --runtime io.containerd.banger.v2 --rootfs DIR ID true`
#     (DIR: the golden image's tree, so both sides boot the same system)
#     against `banger vm run --rm -- true`, ROUNDS of each interleaved after
#     one warm-up of each that is not counted (the warm-up also builds the
#     rootfs image the shim then finds by content): median ctr / median
#     banger; goal <= 1.2.
#  2. The shim's RSS per running task: TASKS tasks started with `ctr run -d`
#     (sleeping), the VmRSS of their shims summed / TASKS; reported, no goal
#     (the line's base is "-").
# Runs as root in a fresh network namespace (bench/bench_lib.sh). Not root or
# no containerd: a BANGER-SKIP line, exit 0; a failure to run: exit 1.
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-containerd}"
: "${BANGER_SOURCE_DIR:?}"
ROUNDS=${ROUNDS:-3}
TASKS=${TASKS:-2}
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
say() { echo "bench-containerd: $*"; }
. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
need_root "netsvc, network namespace, containerd"
need_tools qemu-system-x86_64 mmdebstrap jq ip containerd ctr
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_vm_setup bgctrd

# Cold boots on both sides (no automatic template built in the background
# while the other side is timed); a loaded TCG host boots slowly.
mkdir -p "$BANGER_HOME/config" &&
        printf '[vm]\ntemplate = "off"\nboot_timeout = "10m"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "daemon start: $(tail -1 "$BANGER_HOME/err")"
ROOTFS="$BANGER_HOME/rootfs"
mkdir -p "$ROOTFS" "$BANGER_HOME/gm"
mount -o loop,ro "$BANGER_HOME/state/images/golden/rootfs.ext4" "$BANGER_HOME/gm" ||
        bench_cannot_run "cannot loop-mount the golden image"
tar -C "$BANGER_HOME/gm" -cf - . | tar -C "$ROOTFS" -xpf -
umount "$BANGER_HOME/gm"

C="$BANGER_HOME/ctrd"
mkdir -p "$C/root" "$C/state"
export BANGER_SHIM_SOCKET_DIR="$BANGER_HOME/s"
cat >"$C/config.toml" <<CONF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/c.sock"
[ttrpc]
  address = "$C/c.sock.ttrpc"
CONF
PATH="$BIN:$PATH" containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
CTRD=$!
trap 'kill $CTRD 2>/dev/null || true; wait $CTRD 2>/dev/null || true' EXIT
CTR=(ctr --address "$C/c.sock" --namespace bench)
for _ in $(seq 60); do "${CTR[@]}" version >/dev/null 2>&1 && break; sleep 0.5; done
"${CTR[@]}" version >/dev/null 2>&1 || bench_cannot_run "containerd did not answer"

n=0
run() { # run KIND: one run of `true`, timed into ms_<KIND>
        local kind=$1 t0 rc=0
        n=$((n + 1))
        t0=$(ms)
        if [ "$kind" = ctr ]; then
                "${CTR[@]}" run --rm --runtime io.containerd.banger.v2 --rootfs "$ROOTFS" "b$n" \
                        true >/dev/null 2>"$BANGER_HOME/err" || rc=$?
        else
                "$B" vm run --rm -- true >/dev/null 2>"$BANGER_HOME/err" || rc=$?
        fi
        [ $rc -eq 0 ] || bench_cannot_run "$kind run: exit $rc: $(tail -1 "$BANGER_HOME/err")"
        eval "ms_$kind+=($(( $(ms) - t0 )))"
}
ms_ctr=() ms_vm=()
run ctr && run vm
say "warm-up (not counted; ctr builds the rootfs image): ctr ${ms_ctr[0]} ms, vm run ${ms_vm[0]} ms"
ms_ctr=() ms_vm=()
for _ in $(seq "$ROUNDS"); do
        run ctr && run vm
done
mc=$(printf '%s\n' "${ms_ctr[@]}" | median)
mv=$(printf '%s\n' "${ms_vm[@]}" | median)
say "ctr run --rm (shim): ${ms_ctr[*]} ms (median $mc)"
say "banger vm run --rm: ${ms_vm[*]} ms (median $mv)"
awk -v c="$mc" -v v="$mv" 'BEGIN {
        r = c / v
        printf "bench-containerd: ctr run --rm / banger vm run --rm = %.3f (goal <= 1.2): %s\n", r, r <= 1.2 ? "PASS" : "MISS"
}'
bench_result "containerd.ctr_run_ms" "$mc" "$mv" "$(awk -v c="$mc" -v v="$mv" 'BEGIN {printf "%.3f", c / v}')" \
        "ratio<=1.2" "$(awk -v c="$mc" -v v="$mv" 'BEGIN {print c / v <= 1.2 ? "PASS" : "MISS"}')"

# The shim's memory per running task.
for i in $(seq "$TASKS"); do
        "${CTR[@]}" run -d --runtime io.containerd.banger.v2 --rootfs "$ROOTFS" "r$i" sleep 3600 \
                >/dev/null 2>"$BANGER_HOME/err" || bench_cannot_run "ctr run -d r$i: $(tail -1 "$BANGER_HOME/err")"
done
for _ in $(seq 120); do
        [ "$("${CTR[@]}" task list 2>/dev/null | grep -c RUNNING)" -ge "$TASKS" ] && break
        sleep 1
done
total=0 shims=0
for p in $(pgrep -f "containerd-shim-banger-v2 .*-address $C/c.sock"); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        [ -n "$kb" ] || continue
        total=$((total + kb)) shims=$((shims + 1))
done
[ "$shims" -ge "$TASKS" ] || bench_cannot_run "found $shims shims for $TASKS tasks"
per=$((total / shims))
say "shim RSS: $shims shims, $total KiB together, $per KiB per task"
bench_result "containerd.shim_rss_kib_per_task" "$per" - - "report" PASS
for i in $(seq "$TASKS"); do
        "${CTR[@]}" task kill -s SIGKILL "r$i" >/dev/null 2>&1
done
sleep 3
for i in $(seq "$TASKS"); do
        "${CTR[@]}" task delete -f "r$i" >/dev/null 2>&1
        "${CTR[@]}" container delete "r$i" >/dev/null 2>&1
done
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
