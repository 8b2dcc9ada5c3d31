#!/usr/bin/env bash
# bench-template: snapshot templates against cold boots, in one run.
#  1. `banger vm run --rm -- true` resumed from a template against the same
#     with --cold, ROUNDS of each interleaved (after one warm-up of each that
#     is not counted): median template / median cold; goal <= 0.1. The
#     command runs through the guest agent (the default); the same from a
#     template with --ssh is timed alongside for comparison.
#  2. Memory: CLONES clones of a 1 GiB template running at once, their QEMUs'
#     private RSS (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup)
#     summed, against one cold VM of the same size; goal <= 2x.
# Both lines name the accelerator (tcg or kvm). Runs as root in a fresh
# network namespace. Not root: a BANGER-SKIP line, exit 0; a failure to run:
# exit 1; a MISS of a goal is reported, exit 0 (bench/bench_lib.sh).
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-template}"
: "${BANGER_SOURCE_DIR:?}"
ROUNDS=${ROUNDS:-3}
CLONES=${CLONES:-8}
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
say() { echo "bench-template: $*"; }
. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap jq ip ssh
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_vm_setup bgtpl

# Templates only where asked: the cold side must stay cold.
mkdir -p "$BANGER_HOME/config" && printf '[vm]\ntemplate = "off"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "daemon start: $(tail -1 "$BANGER_HOME/err")"
t0=$(ms)
"$B" template create bench --vcpu 2 --mem 1024 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "template create: $(tail -1 "$BANGER_HOME/err")"
accel=$("$B" template show bench --json | jq -r .accel)
say "template made in $(( $(ms) - t0 )) ms ($accel)"

run() { # run KIND: one vm run --rm -- true, timed into ms_<KIND>
        local kind=$1 t0 rc=0 flag=--cold
        [ "$kind" = tpl ] && flag="--template bench"
        [ "$kind" = tplssh ] && flag="--template bench --ssh"
        t0=$(ms)
        # shellcheck disable=SC2086
        "$B" vm run --rm --vcpu 2 --mem 1024 $flag -- true >/dev/null 2>"$BANGER_HOME/err" || rc=$?
        [ $rc -eq 0 ] || bench_cannot_run "vm run ($kind): exit $rc: $(tail -1 "$BANGER_HOME/err")"
        eval "ms_$kind+=($(( $(ms) - t0 )))"
}
ms_tpl=() ms_cold=() ms_tplssh=()
sync
run cold && run tpl && run tplssh
say "warm-up (not counted): cold ${ms_cold[0]} ms, template ${ms_tpl[0]} ms, template over ssh ${ms_tplssh[0]} ms"
ms_tpl=() ms_cold=() ms_tplssh=()
for i in $(seq "$ROUNDS"); do
        run cold && run tpl && run tplssh
done
mc=$(printf '%s\n' "${ms_cold[@]}" | median)
mt=$(printf '%s\n' "${ms_tpl[@]}" | median)
ms=$(printf '%s\n' "${ms_tplssh[@]}" | median)
say "vm run --rm -- true, cold (agent): ${ms_cold[*]} ms (median $mc)"
say "vm run --rm -- true, from a template (agent): ${ms_tpl[*]} ms (median $mt)"
say "vm run --rm -- true, from a template over ssh (--ssh): ${ms_tplssh[*]} ms (median $ms)"
awk -v s="$ms" -v t="$mt" -v c="$mc" 'BEGIN {
        printf "bench-template: from a template over ssh / cold = %.3f; agent saves %d ms a run (%.2fx faster than ssh)\n", s / c, s - t, s / t
}'
bench_result "template.vm_run_agent_vs_ssh_ms.$accel" "$mt" "$ms" \
        "$(awk -v t="$mt" -v s="$ms" 'BEGIN {printf "%.3f", t / s}')" "ratio<1" \
        "$(awk -v t="$mt" -v s="$ms" 'BEGIN {print t < s ? "PASS" : "MISS"}')"
awk -v t="$mt" -v c="$mc" -v a="$accel" 'BEGIN {
        r = t / c
        v = r <= 0.1 ? "PASS" : "MISS"
        printf "bench-template: vm run from a template / cold = %.3f (%s; goal <= 0.1): %s\n", r, a, v
}'
bench_result "template.vm_run_ms.$accel" "$mt" "$mc" "$(awk -v t="$mt" -v c="$mc" 'BEGIN {printf "%.3f", t / c}')" \
        "ratio<=0.1" "$(awk -v t="$mt" -v c="$mc" 'BEGIN {print t / c <= 0.1 ? "PASS" : "MISS"}')"

# Private memory: CLONES clones against one cold VM, all 1 GiB.
private_kb() { # private_kb PID
        awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup"
}
"$B" vm create --name cold-mem --cold --vcpu 2 --mem 1024 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "cold vm create: $(tail -1 "$BANGER_HOME/err")"
sleep 5
cold_kb=$(private_kb "$("$B" vm show cold-mem --json | jq -r .pid)")
"$B" vm delete --force cold-mem >/dev/null 2>&1
total=0
for i in $(seq "$CLONES"); do
        "$B" vm create --name "m$i" --template bench >/dev/null 2>"$BANGER_HOME/err" ||
                bench_cannot_run "clone $i: $(tail -1 "$BANGER_HOME/err")"
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
}'
bench_result "template.clones_private_rss_kib.$accel" "$total" "$cold_kb" \
        "$(awk -v t="$total" -v c="$cold_kb" 'BEGIN {printf "%.2f", t / c}')" "ratio<=2" \
        "$(awk -v t="$total" -v c="$cold_kb" 'BEGIN {print t / c <= 2 ? "PASS" : "MISS"}')"
"$B" template delete bench >/dev/null 2>&1
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
