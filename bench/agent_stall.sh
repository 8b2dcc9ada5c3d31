#!/usr/bin/env bash
# bench-agent-stall: how much a guest that stops answering its agent slows
# everyone else. One VM; 12 loops run `vm ports` against it without pause
# while `vm list` is timed 100 times (50 ms apart):
#   baseline: the agent answers;
#   stalled:  the guest's root sent its agent SIGSTOP (issue #19 attack 5).
# Reports the p99 (and median) of vm list in both phases, in one run; goal:
# stalled p99 <= 2x the baseline's. Also reports how long another VM-level
# call, `vm health`, of the stalled VM takes to fail. Not root: a BANGER-SKIP
# line, exit 0; a failure to run: exit 1 (bench/bench_lib.sh).
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-agent-stall}"
: "${BANGER_SOURCE_DIR:?}"
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
say() { echo "bench-agent-stall: $*"; }
. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap jq ip
ms() { echo $(( $(date +%s%N) / 1000000 )); }

bench_vm_setup bgstall

mkdir -p "$BANGER_HOME/config" && printf '[vm]\ntemplate = "off"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "daemon start: $(tail -1 "$BANGER_HOME/err")"
"$B" vm create --name st --vcpu 1 --mem 512 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "vm create: $(tail -1 "$BANGER_HOME/err")"
"$B" vm ports st >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "vm ports on a healthy VM: $(tail -1 "$BANGER_HOME/err")"

# phase NAME: 12 probe loops on, 100 timed vm list calls; prints "p50 p99".
phase() {
        local stop="$BANGER_HOME/stop.$1" i t d
        rm -f "$stop" "$BANGER_HOME/lat.$1"
        for i in $(seq 12); do
                ( while [ ! -e "$stop" ]; do "$B" vm ports st >/dev/null 2>&1; done ) &
        done
        sleep 1
        for i in $(seq 100); do
                t=$(ms)
                "$B" vm list >/dev/null 2>&1 || echo "vm list failed" >&2
                d=$(( $(ms) - t ))
                echo "$d" >>"$BANGER_HOME/lat.$1"
                sleep 0.05
        done
        touch "$stop"
        wait
        sort -n "$BANGER_HOME/lat.$1" | awk '{ a[NR] = $1 } END { print a[int(NR * 0.5 + 0.5)], a[int(NR * 0.99 + 0.5)] }'
}

read -r base50 base99 < <(phase healthy)
say "agent answering: vm list p50 $base50 ms, p99 $base99 ms (12 vm ports loops)"
# Over ssh (vm exec would go through the agent it stops); sshd may come up
# a little after the agent has answered.
stopped=0
for _ in $(seq 30); do
        if "$B" vm exec --ssh st -- pkill -STOP -x banger-agent >/dev/null 2>"$BANGER_HOME/err"; then
                stopped=1
                break
        fi
        sleep 2
done
[ "$stopped" -eq 1 ] ||
        bench_cannot_run "could not stop the agent in the guest: $(tail -2 "$BANGER_HOME/err")"
t=$(ms)
"$B" vm health st >/dev/null 2>&1 && bench_cannot_run "vm health answered with the agent stopped"
hms=$(( $(ms) - t ))
read -r st50 st99 < <(phase stalled)
say "agent stopped:   vm list p50 $st50 ms, p99 $st99 ms (12 vm ports loops); vm health fails after $hms ms"
"$B" vm exec --ssh st -- pkill -CONT -x banger-agent >/dev/null 2>&1
awk -v s="$st99" -v b="$base99" -v s50="$st50" -v b50="$base50" 'BEGIN {
        if (b < 1) b = 1
        if (b50 < 1) b50 = 1
        r = s / b; v = r <= 2 ? "PASS" : "MISS"
        printf "bench-agent-stall: p99 stalled/healthy %.3f (target <= 2): %s\n", r, v
        printf "BENCH agent_stall.vm_list_p99_ms ours=%d base=%d ratio=%.3f goal=ratio<=2 %s\n", s, b, r, v
        printf "bench-agent-stall: vm list p50 stalled/healthy %.3f\n", s50 / b50
}'
awk -v h="$hms" 'BEGIN {
        v = h <= 3000 ? "PASS" : "MISS"
        printf "BENCH agent_stall.health_of_stalled_vm_ms ours=%d base=- ratio=- goal=ours<=3000 %s\n", h, v
}'
"$B" vm delete --force st >/dev/null 2>&1
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
