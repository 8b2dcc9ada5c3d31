#!/usr/bin/env bash
# bench-boot: `banger vm create` (disks, identity, tap, QEMU, until the guest
# agent answers) against the raw QEMU command banger built, started by hand on
# the same kernel, initramfs and disks and waited for to the same readiness
# (the agent's Health, polled the way banger-vmsvc polls), in one run.
# Prints medians of ROUNDS each (after one warm-up round of each that is not
# counted; rounds interleave in pairs) and the overhead from the median of the
# per-pair ratios; target: <= 15 %.
#
# Runs as root in a fresh network namespace (netsvc makes a bridge and taps).
# The kernel download is cached in BUILD/e2e-cache; the default image is built
# once per run. Not root: a BANGER-SKIP line, exit 0; a failure to run: exit 1;
# a MISS of the goal is reported, exit 0 (bench/bench_lib.sh).
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-boot}"
: "${BANGER_SOURCE_DIR:?}"
ROUNDS=${ROUNDS:-7}
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
TOOL="$BANGER_BUILD_DIR/tests/agent_e2e_tool"
say() { echo "bench-boot: $*"; }
. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap jq ip
need_built "$TOOL"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_vm_setup bgboot

# Cold boots are what this measures: no snapshot templates.
mkdir -p "$BANGER_HOME/config" && printf '[vm]\ntemplate = "off"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "daemon start: $(tail -1 "$BANGER_HOME/err")"
banger_ms=() raw_ms=()
# One round of banger + raw: create (timed into banger_ms), stop, the raw
# command on the same disks (timed into raw_ms), delete. Rounds interleave so
# that drift on the host (writeback, another job) falls on both sides alike.
round() { # round NAME
        local name=$1 t0 pid sock q
        t0=$(ms)
        "$B" vm create --name "$name" --vcpu 1 --mem 1024 >/dev/null 2>"$BANGER_HOME/err" ||
                { say "could not run: vm create: $(tail -1 "$BANGER_HOME/err")"; return 1; }
        banger_ms+=($(( $(ms) - t0 )))
        pid=$("$B" vm show "$name" --json | jq -r .pid)
        mapfile -t argv < <(tr '\0' '\n' < "/proc/$pid/cmdline")
        "$B" vm stop "$name" >/dev/null 2>&1
        sock=$(printf '%s\n' "${argv[@]}" | grep -o 'path=[^,]*/agent.sock' | head -1)
        sock=${sock#path=}
        [ -n "$sock" ] || { say "could not run: no agent socket in the QEMU command line"; return 1; }
        t0=$(ms)
        "${argv[@]}" >/dev/null 2>"$BANGER_HOME/raw.err" &
        q=$!
        if ! "$TOOL" ready "$sock" >/dev/null 2>"$BANGER_HOME/raw.tool"; then
                kill -9 "$q" 2>/dev/null
                say "could not run: raw QEMU never answered: $(tail -1 "$BANGER_HOME/raw.tool") $(tail -1 "$BANGER_HOME/raw.err")"
                return 1
        fi
        raw_ms+=($(( $(ms) - t0 )))
        for _ in $(seq 100); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$q" 2>/dev/null
        wait "$q" 2>/dev/null
        "$B" vm delete --force "$name" >/dev/null 2>&1
        return 0
}
# Same starting line for both: the image build's dirty pages written back,
# then one warm-up round (page cache, first-use paths) that is not counted.
sync
round w0 || exit 1
say "warm-up (not counted): banger ${banger_ms[0]} ms, raw ${raw_ms[0]} ms"
banger_ms=() raw_ms=()
for i in $(seq "$ROUNDS"); do
        round "b$i" || exit 1
done
bm=$(printf '%s\n' "${banger_ms[@]}" | median)
rm_=$(printf '%s\n' "${raw_ms[@]}" | median)
say "banger vm create to agent ready: ${banger_ms[*]} ms (median $bm)"
say "raw QEMU, same command and disks, to agent ready: ${raw_ms[*]} ms (median $rm_)"
# Under TCG a boot varies by +-30 % from one minute to the next, so the
# rounds are paired (banger i right before raw i) and judged on the median of
# the per-pair ratios; the ratio of the two medians is printed too.
pairs=$(for i in "${!banger_ms[@]}"; do echo "${banger_ms[$i]} ${raw_ms[$i]}"; done |
        awk '{printf "%.4f\n", $1 / $2}' | sort -n)
pm=$(median <<<"$pairs")
say "per-round ratios banger/raw: $(tr '\n' ' ' <<<"$pairs")(median $pm)"
verdict=$(awk -v p="$pm" 'BEGIN { print (p - 1) * 100.0 <= 15 ? "PASS" : "MISS" }')
awk -v b="$bm" -v r="$rm_" -v p="$pm" -v v="$verdict" 'BEGIN {
        printf "bench-boot: ratio of medians %.3f; median paired ratio %.3f, overhead %+.1f %% (target <= 15 %%): %s\n", b / r, p, (p - 1) * 100.0, v
}'
# ratio: the median of the per-pair ratios (what the goal is judged on).
bench_result boot.vm_create_to_agent_ms "$bm" "$rm_" "$pm" "ratio<=1.15" "$verdict"
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
