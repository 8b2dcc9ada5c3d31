#!/usr/bin/env bash
# bench-template: snapshot templates against cold boots, in one run.
#  1. `banger vm run --rm -- true` resumed from a template against the same
#     with --cold, ROUNDS of each interleaved (after one warm-up of each that
#     is not counted): median template / median cold; goal <= 0.1.
#  2. Memory: CLONES clones of a 1 GiB template running at once, their QEMUs'
#     private RSS (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup)
#     summed, against one cold VM of the same size; goal <= 2x.
# Both lines name the accelerator (tcg or kvm). Runs as root in a fresh
# network namespace; a setup failure prints why and exits 0 (a benchmark
# reports, the tests decide).
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-template}"
: "${BANGER_SOURCE_DIR:?}"
ROUNDS=${ROUNDS:-3}
CLONES=${CLONES:-8}
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
say() { echo "bench-template: $*"; }
[ "$(id -u)" -eq 0 ] || { say "skipped: needs root (netsvc, network namespace)"; exit 0; }
for t in qemu-system-x86_64 mmdebstrap jq ip ssh; do
        command -v $t >/dev/null || { say "skipped: $t is not installed"; exit 0; }
done
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
bench_vm_setup bgtpl

# Templates only where asked: the cold side must stay cold.
mkdir -p "$BANGER_HOME/config" && printf '[vm]\ntemplate = "off"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        { say "could not run: daemon start: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
t0=$(ms)
"$B" template create bench --vcpu 2 --mem 1024 >/dev/null 2>"$BANGER_HOME/err" ||
        { say "could not run: template create: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
accel=$("$B" template show bench --json | jq -r .accel)
say "template made in $(( $(ms) - t0 )) ms ($accel)"

run() { # run KIND: one vm run --rm -- true, timed into ms_<KIND>
        local kind=$1 t0 rc=0 flag=--cold
        [ "$kind" = tpl ] && flag="--template bench"
        t0=$(ms)
        # shellcheck disable=SC2086
        "$B" vm run --rm --vcpu 2 --mem 1024 $flag -- true >/dev/null 2>"$BANGER_HOME/err" || rc=$?
        [ $rc -eq 0 ] || { say "could not run: vm run ($kind): exit $rc: $(tail -1 "$BANGER_HOME/err")"; return 1; }
        eval "ms_$kind+=($(( $(ms) - t0 )))"
}
ms_tpl=() ms_cold=()
sync
run cold && run tpl || exit 0
say "warm-up (not counted): cold ${ms_cold[0]} ms, template ${ms_tpl[0]} ms"
ms_tpl=() ms_cold=()
for i in $(seq "$ROUNDS"); do
        run cold && run tpl || exit 0
done
mc=$(printf '%s\n' "${ms_cold[@]}" | median)
mt=$(printf '%s\n' "${ms_tpl[@]}" | median)
say "vm run --rm -- true, cold: ${ms_cold[*]} ms (median $mc)"
say "vm run --rm -- true, from a template: ${ms_tpl[*]} ms (median $mt)"
awk -v t="$mt" -v c="$mc" -v a="$accel" 'BEGIN {
        r = t / c
        v = r <= 0.1 ? "PASS" : "MISS"
        printf "bench-template: vm run from a template / cold = %.3f (%s; goal <= 0.1): %s\n", r, a, v
        printf "BENCH template-run ours=%d base=%d ratio=%.3f goal=<=0.1 %s\n", t, c, r, v
}'

# Private memory: CLONES clones against one cold VM, all 1 GiB.
private_kb() { # private_kb PID
        awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup"
}
"$B" vm create --name cold-mem --cold --vcpu 2 --mem 1024 >/dev/null 2>"$BANGER_HOME/err" ||
        { say "could not run: cold vm create: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
sleep 5
cold_kb=$(private_kb "$("$B" vm show cold-mem --json | jq -r .pid)")
"$B" vm delete --force cold-mem >/dev/null 2>&1
total=0
for i in $(seq "$CLONES"); do
        "$B" vm create --name "m$i" --template bench >/dev/null 2>"$BANGER_HOME/err" ||
                { say "could not run: clone $i: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
done
sleep 5
for i in $(seq "$CLONES"); do
        total=$(( total + $(private_kb "$("$B" vm show "m$i" --json | jq -r .pid)") ))
done
for i in $(seq "$CLONES"); do "$B" vm delete --force "m$i" >/dev/null 2>&1; done
awk -v t="$total" -v c="$cold_kb" -v n="$CLONES" -v a="$accel" 'BEGIN {
        r = t / c
        v = r <= 2 ? "PASS" : "MISS"
        printf "bench-template: private RSS of %d clones of a 1 GiB template %.0f MiB, one cold VM %.0f MiB: %.2fx (%s; goal <= 2x): %s\n", n, t / 1024, c / 1024, r, a, v
        printf "BENCH template-memory ours=%d base=%d ratio=%.2f goal=<=2 %s\n", t, c, r, v
}'
"$B" template delete bench >/dev/null 2>&1
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
