# Shared by the benchmark scripts (sourced; the script defines say, B and BIN).
#
# A benchmark that cannot run because this machine lacks something skips
# (tests/skiplib.sh `skip`, exit 0 here, with a BANGER-SKIP line); one that
# fails to run says why and exits 1; one that ran exits 0, a MISS included.
. "$BANGER_SOURCE_DIR/tests/skiplib.sh"
BANGER_SKIP_EXIT=0

# bench_result MEASURE OURS BASE RATIO GOAL PASS|MISS: the machine-readable
# line scripts/bench.sh collects into its table. BASE and RATIO are "-" for
# a measure without a baseline; GOAL is the condition checked, e.g. ratio<=0.5.
bench_result() {
        echo "BENCH $1 ours=$2 base=$3 ratio=$4 goal=$5 $6"
}

# bench_cannot_run TEXT: the benchmark could not run (exit 1).
bench_cannot_run() {
        say "could not run: $*"
        local f
        for f in "${BANGER_HOME:-/nonexistent}"/state/logs/*.log; do
                [ -f "$f" ] || continue
                echo "--- last lines of $f"
                tail -n 15 "$f"
        done
        exit 1
}

# bench_vm_setup PREFIX: in a temporary BANGER_HOME, the default kernel and
# image (tests/e2e/golden_seed.sh: built once per build, then copied), then runs the calling script again in a
# fresh network namespace (BENCH_IN_NS=1) and exits with its status; inside
# it, returns.
. "$BANGER_SOURCE_DIR/tests/e2e/golden_seed.sh"

bench_vm_setup() {
        local prefix=$1 p
        [ -n "${BENCH_IN_NS:-}" ] && return 0
        export BANGER_HOME
        BANGER_HOME=$(mktemp -d "/tmp/$prefix.XXXXXX")
        bench_cleanup() {
                "$B" daemon stop --timeout 10 >/dev/null 2>&1
                local p
                for p in /proc/[0-9]*; do
                        grep -qxz "BANGER_HOME=$BANGER_HOME" "$p/environ" 2>/dev/null &&
                                kill -9 "${p#/proc/}" 2>/dev/null
                done
                [ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
                rm -rf "$BANGER_HOME"
        }
        trap bench_cleanup EXIT
        # kernel and golden image: built once per build, then copied
        golden_seed "$B" "$BIN" || bench_cannot_run "kernel pull / image build: $(tail -1 "$BANGER_HOME/err")"
        NS=$prefix$$
        ip netns add "$NS" || bench_cannot_run "ip netns add $NS failed"
        ip -n "$NS" link set lo up
        local rc=0
        BENCH_IN_NS=1 ip netns exec "$NS" bash "$0" || rc=$?
        exit $rc
}
