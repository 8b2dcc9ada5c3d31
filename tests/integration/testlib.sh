# Shared helpers for banger's shell-driven integration tests.
# Each test gets its own BANGER_HOME under a temp dir and stops what it started.
set -euo pipefail

: "${BANGER_BUILD_DIR:?run through ctest}"
: "${BANGER_SOURCE_DIR:?run through ctest}"
BIN="$BANGER_BUILD_DIR/bin"
BANGER="$BIN/banger"
PROTO_DIR="$BANGER_SOURCE_DIR/proto"
TEST_PROTO_DIR="$BANGER_SOURCE_DIR/tests/integration/proto"

T_FAILS=0
T_PASSES=0

. "$BANGER_SOURCE_DIR/tests/skiplib.sh" # skip, setup_fail, need_*
fail() { echo "FAIL: $*" >&2; T_FAILS=$((T_FAILS + 1)); }
pass() { echo "ok: $*"; T_PASSES=$((T_PASSES + 1)); }
check() { # check "description" command...
        local d="$1"; shift
        if "$@"; then pass "$d"; else fail "$d"; fi
}
finish() {
        echo "$T_PASSES passed, $T_FAILS failed"
        [ "$T_FAILS" -eq 0 ]
}
# fail_stop TEXT: a failure the rest of the test cannot go on from.
fail_stop() {
        fail "$*"
        finish
        exit 1
}

# Re-runs the calling test inside a fresh network namespace when running as
# root, so the bridge, taps and nftables rules banger-netsvc makes never touch
# the host's network. Call it first thing, before new_home.
isolate_network() {
        [ -n "${BANGER_TEST_NETNS:-}" ] && return 0
        [ "$(id -u)" -eq 0 ] || return 0
        need_tools ip
        local ns=bgt$$
        ip netns add "$ns" || setup_fail "ip netns add $ns failed"
        ip -n "$ns" link set lo up
        local rc=0
        BANGER_TEST_NETNS=$ns ip netns exec "$ns" bash "$0" "$@" || rc=$?
        ip netns del "$ns" 2>/dev/null || true
        exit $rc
}

# A short temp root: ipc socket paths must stay under 108 bytes.
new_home() {
        BANGER_HOME=$(mktemp -d /tmp/bgt.XXXXXX)
        export BANGER_HOME
        RUN="$BANGER_HOME/run"
        trap cleanup_home EXIT
        [ -n "${BANGER_TEST_NETNS:-}" ] && reap_netns "$BANGER_TEST_NETNS"
        start_reaper
}

# ctest ends a test that runs past its TIMEOUT with SIGKILL (to the test and
# its children): no trap runs, and the services and VMs it started, which
# left its process tree when they daemonized, would keep running. A reaper,
# detached from the tree (double fork, own session), waits for this shell to
# end; if BANGER_HOME is still there (cleanup_home did not run), it kills
# everything started with this BANGER_HOME, deletes the network namespaces
# named in $BANGER_HOME.netns and removes the home.
# kill_home HOME [SPARE_PID]: SIGKILL every process started with
# BANGER_HOME=HOME (one grep over every /proc/*/environ), but SPARE_PID.
kill_home() {
        local e
        for e in $(grep -lsxzF "BANGER_HOME=$1" /proc/[0-9]*/environ); do
                e=${e#/proc/}
                [ "${e%/environ}" = "${2:-}" ] || kill -9 "${e%/environ}" 2>/dev/null || true
        done
}
start_reaper() {
        [ -z "${BANGER_TEST_KEEP:-}" ] || return 0
        local watch=$$ home=$BANGER_HOME
        (
                env -u BANGER_HOME setsid bash -c "$(declare -f kill_home)"'
                        watch=$1 home=$2
                        while kill -0 "$watch" 2>/dev/null; do sleep 1; done
                        [ -d "$home" ] || { rm -f "$home.netns"; exit 0; }
                        kill_home "$home"; sleep 1; kill_home "$home"
                        while read -r ns; do
                                [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
                        done <"$home.netns" 2>/dev/null
                        rm -rf "$home" "$home.netns"
                ' bg-reaper "$watch" "$home" </dev/null >/dev/null 2>&1 &
        )
}
# reap_netns NAME: the reaper deletes this network namespace too.
reap_netns() { echo "$1" >>"$BANGER_HOME.netns"; }
cleanup_home() {
        # On failure, the services' last words go to the test output (CI keeps
        # nothing else).
        if [ "${T_FAILS:-0}" -gt 0 ]; then
                local l
                for l in "$BANGER_HOME"/state/logs/*.log "$BANGER_HOME"/*.log; do
                        [ -s "$l" ] || continue
                        echo "---- last lines of $l" >&2
                        tail -n 15 "$l" | cut -c1-400 >&2
                done
        fi
        "$BANGER" daemon stop --timeout 5 >/dev/null 2>&1 || true
        # Anything still running with this BANGER_HOME (a test that failed
        # half-way, a process whose pidfile is gone) must not outlive the test.
        kill_home "$BANGER_HOME" $$
        if [ -n "${BANGER_TEST_KEEP:-}" ]; then
                echo "kept $BANGER_HOME (BANGER_TEST_KEEP)"
        else
                rm -rf "$BANGER_HOME" "$BANGER_HOME.netns"
        fi
}

svc_pid() { cut -d' ' -f1 "$RUN/$1.pid"; }

# rpc_text URL CALLTYPE REPLYTYPE TEXT: encodes TEXT (protobuf text format) as
# CALLTYPE, sends it with nngcat (a REQ client with no banger code), decodes
# the reply as REPLYTYPE. Prints the decoded text; empty if there was no reply.
# RPC_TEXT_TIMEOUT: seconds to wait for the reply (default 5).
rpc_text() {
        local url="$1" calltype="$2" replytype="$3" text="$4"
        local req resp
        req=$(mktemp) resp=$(mktemp)
        printf '%s\n' "$text" | protoc --encode="$calltype" -I "$PROTO_DIR" -I "$TEST_PROTO_DIR" \
                "$TEST_PROTO_DIR/calls.proto" > "$req"
        nngcat --req0 --dial "$url" --raw --file "$req" --recv-timeout "${RPC_TEXT_TIMEOUT:-5}" \
                --send-timeout 5 > "$resp" 2>/dev/null || true
        if [ -s "$resp" ]; then
                protoc --decode="$replytype" -I "$PROTO_DIR" -I "$TEST_PROTO_DIR" \
                        "$TEST_PROTO_DIR/calls.proto" < "$resp"
        fi
        rm -f "$req" "$resp"
}

# health_via URL SERVICE: Health of a banger.v1 service through URL.
health_via() {
        rpc_text "$1" banger.test.HealthCall banger.test.HealthReply \
                "method: \"/banger.v1.$2/Health\""
}

all_up() { "$BANGER" status >/dev/null 2>&1; }

wait_for() { # wait_for SECONDS command...
        local until=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
        while ! "$@"; do
                [ $(( $(date +%s%N) / 1000000 )) -lt "$until" ] || return 1
                sleep 0.05
        done
}

# start_https_server DIR ROOT: an HTTPS server on 127.0.0.1 serving the files
# under ROOT, with a self-signed certificate for 127.0.0.1 made in DIR
# (DIR/tls.crt, readable by all, is what a client trusts). Sets SRV_PID (the
# caller kills it) and URL (https://127.0.0.1:PORT); a set-up failure is
# setup_fail.
start_https_server() {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                -subj "/CN=banger-test" -addext "subjectAltName=IP:127.0.0.1" \
                -keyout "$1/tls.key" -out "$1/tls.crt" 2>/dev/null || setup_fail "openssl req failed"
        chmod 644 "$1/tls.crt"
        cat >"$1/https.py" <<'PY'
import http.server, ssl, sys, functools
root, cert, key = sys.argv[1:4]
H = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
H.log_message = lambda *a: None
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
        python3 "$1/https.py" "$2" "$1/tls.crt" "$1/tls.key" >"$1/port" 2>"$1/https.err" &
        SRV_PID=$!
        wait_for 30 test -s "$1/port" || setup_fail "the HTTPS server did not start: $(cat "$1/https.err")"
        URL="https://127.0.0.1:$(cat "$1/port")"
}

# start_slow_server DIR: an HTTP server on 127.0.0.1 that answers every GET
# with 64 MiB of zeros, 64 KiB each 50 ms (about a minute), so that a kernel
# pull stays in its download stage; and DIR/slow.json, a catalog whose entry
# "slow" downloads from it. Sets SLOW_PID (the caller kills it); returns 1 if
# the server did not start within 30 s.
start_slow_server() {
        cat >"$1/slow.py" <<'PY'
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(64 << 20))
        self.end_headers()
        try:
            for _ in range(1024):
                self.wfile.write(b"\0" * 65536)
                time.sleep(0.05)
        except Exception:
            pass
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
        python3 "$1/slow.py" >"$1/slow.port" &
        SLOW_PID=$!
        wait_for 30 test -s "$1/slow.port" || return 1
        echo '[{"name": "slow", "url": "http://127.0.0.1:'"$(cat "$1/slow.port")"'/big", "sha256": "'"$(printf 'a%.0s' {1..64})"'"}]' >"$1/slow.json"
}
