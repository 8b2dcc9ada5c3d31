# Shared start of the VM benchmarks (sourced; the script defines say, B and
# BIN). bench_vm_setup PREFIX: in a temporary BANGER_HOME, downloads the kernel
# (cached in BUILD/e2e-cache) and builds the default image on the host network
# with only imagesvc and the gateway, then runs the calling script again in a
# fresh network namespace (BENCH_IN_NS=1) and exits; inside it, returns. A
# setup failure prints why and exits 0: a benchmark reports, the tests decide.
bench_vm_setup() {
        local prefix=$1 p
        [ -n "${BENCH_IN_NS:-}" ] && return 0
        export BANGER_HOME
        BANGER_HOME=$(mktemp -d "/tmp/$prefix.XXXXXX")
        export BANGER_CACHE_DIR="$BANGER_BUILD_DIR/e2e-cache"
        mkdir -p "$BANGER_CACHE_DIR"
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
        "$BIN/banger-imagesvc" --owner-uid 0 >"$BANGER_HOME/imagesvc.log" 2>&1 &
        "$BIN/banger-gateway" --owner-uid 0 >"$BANGER_HOME/gateway.log" 2>&1 &
        for _ in $(seq 100); do "$B" image list >/dev/null 2>&1 && break; sleep 0.1; done
        "$B" kernel pull debian-cloud-amd64 >/dev/null 2>"$BANGER_HOME/err" ||
                { say "could not run: kernel pull: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
        "$B" image build golden >/dev/null 2>"$BANGER_HOME/err" ||
                { say "could not run: image build: $(tail -1 "$BANGER_HOME/err")"; exit 0; }
        "$B" daemon stop --timeout 10 >/dev/null 2>&1
        for p in /proc/[0-9]*; do
                grep -qxz "BANGER_HOME=$BANGER_HOME" "$p/environ" 2>/dev/null && kill "${p#/proc/}" 2>/dev/null
        done
        sleep 0.5
        NS=$prefix$$
        ip netns add "$NS" || { say "could not run: no network namespace"; exit 0; }
        ip -n "$NS" link set lo up
        BENCH_IN_NS=1 ip netns exec "$NS" bash "$0"
        exit 0
}
