#!/usr/bin/env bash
# Catalog reads on a pool of their own (image.max_catalog_calls), against the
# real processes and a catalog server that trickles its answer (2 KiB/s, over
# curl's 1 KiB/s cut-off, for ~25 s): with the limit at 4, four `image
# catalog` calls in flight take every slot, a fifth is refused at once as busy
# naming the key, and meanwhile `image list` and `kernel list` answer at once.
# Once the slow reads end, a catalog call is taken again. Without the pool the
# reads ran on imagesvc's 4 shared workers: the fifth waited, and so did
# every other call.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
need_tools python3 curl

new_home
W="$BANGER_HOME/w"
mkdir -p "$W" "$BANGER_HOME/config"
SRV_PID=""
cleanup() {
        local rc=$?
        [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
        wait 2>/dev/null
        cleanup_home
        exit $rc
}
trap cleanup EXIT

cat >"$W/trickle.py" <<'PY'
import http.server, time
BODY = b"[" + b" " * (50 << 10) + b"]"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        try:
            for i in range(0, len(BODY), 1024):
                self.wfile.write(BODY[i:i + 1024])
                self.wfile.flush()
                time.sleep(0.5)
        except Exception:
            pass
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$W/trickle.py" >"$W/port" &
SRV_PID=$!
wait_for 30 test -s "$W/port" || setup_fail "the trickling catalog server did not start"
URL="http://127.0.0.1:$(cat "$W/port")/catalog.json"
printf '[image]\nmax_catalog_calls = 4\n' >"$BANGER_HOME/config/config.toml"

check "daemon start" "$BANGER" daemon start --timeout 30
PIDS=()
for i in 1 2 3 4; do
        "$BANGER" image catalog --catalog-url "$URL" --json >"$W/c$i" 2>"$W/e$i" &
        PIDS+=($!)
done
# All are in flight once the server has four connections.
check "four catalog reads in flight" wait_for 20 bash -c \
        '[ "$(ss -Htn state established "( sport = :$1 )" | wc -l)" -ge 4 ]' _ "$(cat "$W/port")"
t0=$(date +%s%N)
rc=0
"$BANGER" image catalog --catalog-url "$URL" >/dev/null 2>"$W/e5" || rc=$?
t1=$(date +%s%N)
check "a fifth is refused" [ "$rc" -ne 0 ]
check "  as busy, naming image.max_catalog_calls" grep -q "busy.*image.max_catalog_calls" "$W/e5"
check "  at once (under 3 s)" [ $(( (t1 - t0) / 1000000 )) -lt 3000 ]
[ "$T_FAILS" -eq 0 ] || cat "$W/e5" >&2
for verb in "image list" "kernel list"; do
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        check "$verb answers while the four catalog reads run" "$BANGER" $verb
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "  $verb: $ms ms"
        check "  within 2 s" [ "$ms" -lt 2000 ]
done
check "the four catalog reads were still running meanwhile" kill -0 "${PIDS[@]}"
bad=0
for i in 1 2 3 4; do
        rc=0; wait "${PIDS[$((i - 1))]}" || rc=$?
        if [ "$rc" != 0 ] || ! jq -e "length == 0" "$W/c$i" >/dev/null; then
                bad=$((bad + 1)); cat "$W/e$i" >&2
        fi
done
check "the slow reads end with an empty catalog each" [ "$bad" = 0 ]
t0=$(date +%s)
check "a catalog read is taken again afterwards" "$BANGER" image catalog --catalog-url "$URL" --json
echo "  (took $(( $(date +%s) - t0 )) s)"
finish
