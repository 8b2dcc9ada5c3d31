#!/usr/bin/env bash
# banger-netsvc as a process, as root, inside a fresh network namespace (the
# host's network is never touched): Setup (bridge, nft table, DNS), leases,
# the tap pool, refusals (bad names, foreign interfaces, out-of-subnet
# addresses, a caller of another uid, a subnet overlapping a route), crash
# safety (SIGKILL during warm-up and during acquire, restart, kernel and
# net.db agree), reconcile of orphans, `.vm` answers via dig, and
# `banger net status|leases|teardown` through the gateway.
#
# Usage: test_netsvc.sh /path/to/netsvc_call
set -uo pipefail

CALLT=${1:?usage: test_netsvc.sh NETSVC_CALL}
: "${BANGER_BUILD_DIR:?run through ctest}"
BIN="$BANGER_BUILD_DIR/bin"
. "$(dirname "$0")/../skiplib.sh" # skip, setup_fail, need_*
need_root "network namespaces, CAP_NET_ADMIN"
need_tools ip nft sqlite3 dig setpriv jq
need_built "$BIN/banger-netsvc" "$CALLT"

NS="bgn$$"
ip netns add "$NS" || setup_fail "ip netns add $NS failed"
H=$(mktemp -d /tmp/bgn.XXXXXX)
chmod 0755 "$H"
NPID="" GPID=""
OWNER=1234
cleanup() {
        [ -n "$GPID" ] && kill -9 "$GPID" 2>/dev/null
        [ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
        ip netns del "$NS" 2>/dev/null
        if [ "${FAILS:-0}" -ne 0 ] && [ -f "$H/netsvc.log" ]; then
                echo "---- netsvc log (tail) ----"; tail -30 "$H/netsvc.log"
        fi
        [ -n "${NETSVC_TEST_KEEP_LOG:-}" ] && cp "$H/netsvc.log" "$NETSVC_TEST_KEEP_LOG"
        rm -rf "$H"
}
trap cleanup EXIT

FAILS=0
pass() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { local d="$1"; shift; if "$@"; then pass "$d"; else bad "$d"; fi; }
inns() { ip netns exec "$NS" "$@"; }

export BANGER_HOME="$H"
DB="$H/state/net.db"
URL="ipc://$H/run/netsvc.sock"
call() { "$CALLT" "$URL" "$@"; }
field() { call status | sed -n "s/^$1=//p" | head -1; }
mkdir -p "$H/config"
set_pool() { printf '[network]\ntap_pool_size = %d\n' "$1" > "$H/config/config.toml"; }
set_pool 8
inns ip link set lo up

start_netsvc() {
        # Not through inns: $! must be netsvc itself (ip netns exec execs it).
        ip netns exec "$NS" env BANGER_HOME="$H" BANGER_LOG_LEVEL=debug "$BIN/banger-netsvc" \
                --owner-uid $OWNER >>"$H/netsvc.log" 2>&1 &
        NPID=$!
        for _ in $(seq 200); do
                call health >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        echo "netsvc did not come up"; return 1
}
kill_netsvc() { kill -9 "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; NPID=""; }
stop_netsvc() { kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; NPID=""; }
wait_warm() { # wait_warm N
        for _ in $(seq 300); do
                [ "$(field pool_warm)" = "$1" ] && return 0
                sleep 0.05
        done
        return 1
}
kernel_taps() { inns ip -o link show type tun | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^bg' | sort; }
db_taps() { sqlite3 "$DB" "SELECT name FROM taps ORDER BY name" | sort; }
# Kernel and net.db agree: same bg taps, none unfinished, all on the bridge.
consistent() {
        local k d unfinished off
        k=$(kernel_taps) d=$(db_taps)
        unfinished=$(sqlite3 "$DB" "SELECT count(*) FROM taps WHERE state NOT IN ('warm','used')")
        if [ "$k" != "$d" ]; then
                echo "  kernel: $(echo $k)"; echo "  net.db: $(echo $d)"; return 1
        fi
        [ "$unfinished" = 0 ] || { echo "  $unfinished unfinished rows"; return 1; }
        off=$(comm -23 <(echo "$k") <(inns ip -o link show master banger0 | awk -F': ' '{print $2}' | sed 's/@.*//' | sort))
        [ -z "$off" ] || { echo "  not on the bridge: $off"; return 1; }
        return 0
}

# ---- Setup at start ----
check "netsvc starts in the namespace" start_netsvc
check "status: set up" [ "$(field set_up)" = 1 ]
check "status: bridge present" [ "$(field bridge_present)" = 1 ]
check "status: nft table present" [ "$(field nft_present)" = 1 ]
check "bridge banger0 has 172.30.0.1/24" bash -c "ip netns exec $NS ip -o addr show dev banger0 | grep -q '172.30.0.1/24'"
check "table inet banger exists" inns nft list table inet banger
check "status: uplink empty in a namespace without default route" [ -z "$(field uplink)" ]
check "pool warms to 8" wait_warm 8
check "kernel and net.db agree after warm-up" consistent
check "setup is idempotent" call setup
check "still 8 warm taps after setup again" wait_warm 8

# ---- leases and taps ----
ip1=$(call lease web | sed -n 's/^ip=//p')
check "lease web -> 172.30.0.2" [ "$ip1" = 172.30.0.2 ]
check "lease is stable" bash -c "'$CALLT' '$URL' lease web | grep -qx 'created=0'"
check "mac derived from ip" bash -c "'$CALLT' '$URL' lease web | grep -qx 'mac=52:54:00:1e:00:02'"
ip2=$(call lease api | sed -n 's/^ip=//p')
check "lease api -> 172.30.0.3" [ "$ip2" = 172.30.0.3 ]
check "dig web.vm on the bridge address" bash -c "ip netns exec $NS dig +short +time=2 +tries=1 @172.30.0.1 -p 42069 web.vm | grep -qx 172.30.0.2"
check "dig web.vm on 127.0.0.1 over TCP" bash -c "ip netns exec $NS dig +short +tcp +time=2 +tries=1 @127.0.0.1 -p 42069 web.vm | grep -qx 172.30.0.2"
out=$(call acquire web)
tap=$(sed -n 's/^tap=//p' <<<"$out")
check "acquire web from the warm pool" grep -qx 'from_pool=1' <<<"$out"
check "tap is attached to banger0" bash -c "ip netns exec $NS ip -o link show master banger0 | grep -q ' $tap:'"
check "tap is owned by the owner uid" bash -c "ip netns exec $NS ip -d link show $tap | grep -q 'user $OWNER'"
check "acquire again returns the held tap" bash -c "'$CALLT' '$URL' acquire web | grep -qx 'tap=$tap'"
check "pool refilled in the background" wait_warm 8
check "release-tap returns it to a full pool by deleting it" bash -c "'$CALLT' '$URL' release-tap $tap | grep -qx 'to_pool=0'"
check "released tap is gone from the kernel" bash -c "! ip netns exec $NS ip link show $tap >/dev/null 2>&1"
tap2=$(call acquire api | sed -n 's/^tap=//p')
check "release api frees its lease and its tap" bash -c "'$CALLT' '$URL' release api | grep -qx 'taps_released=1'"
check "release is idempotent" bash -c "'$CALLT' '$URL' release api | grep -qx 'released=0'"
check "an address is never handed out twice" bash -c "'$CALLT' '$URL' lease db | grep -qx 'ip=172.30.0.4'"
check "kernel and net.db agree after acquire/release" consistent

# ---- refusals ----
expect_code() { # expect_code EXIT description args...
        local want=$1 d=$2; shift 2
        local err; err=$(call "$@" 2>&1 >/dev/null); local got=$?
        if [ "$got" = "$want" ]; then pass "$d ($err)"; else bad "$d: exit $got ($err)"; fi
}
links_before=$(inns ip -o link | wc -l)
expect_code 2 "refuses a VM name that is not a DNS label" lease Bad_Name
expect_code 2 "refuses a VM name with a dot" acquire web.evil
expect_code 2 "refuses an empty VM name" acquire ""
expect_code 2 "refuses an address outside the subnet" lease x 10.0.0.5
expect_code 2 "refuses the gateway address" lease x 172.30.0.1
expect_code 2 "refuses the broadcast address" lease x 172.30.0.255
expect_code 4 "refuses an address leased to another VM" lease x 172.30.0.2
expect_code 2 "refuses a foreign interface name (eth0)" release-tap eth0
expect_code 2 "refuses the bridge as a tap" release-tap banger0
expect_code 2 "refuses lo" release-tap lo
expect_code 3 "refuses a bg name netsvc does not own" release-tap bgnope
check "refusals changed no interface" [ "$(inns ip -o link | wc -l)" = "$links_before" ]

# A caller of another uid: open the socket up so only netsvc's peer check stands.
chmod 0711 "$H" "$H/run"
chmod 0666 "$H/run/netsvc.sock"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CALLT" "$URL" health 2>&1); rc=$?
check "uid 65534 is refused with PERMISSION_DENIED ($out)" bash -c '[ "$1" = 6 ] && grep -q PERMISSION_DENIED <<<"$2"' _ "$rc" "$out"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CALLT" "$URL" teardown 2>&1); rc=$?
check "uid 65534 cannot tear down" [ "$rc" = 6 ]
check "bridge still there after the refused teardown" inns ip link show banger0
chmod 0700 "$H/run"

# Subnet overlapping a host route: Setup refuses, naming the route.
inns ip link add dummy9 type veth peer name dummy9p
inns ip addr add 172.30.0.77/16 dev dummy9
inns ip link set dummy9 up
err=$(call setup 2>&1 >/dev/null); rc=$?
check "setup refuses a subnet overlapping a route ($err)" bash -c '[ "$1" = 5 ] && grep -q "172.30.0.0/16 dev dummy9" <<<"$2"' _ "$rc" "$err"
inns ip link del dummy9
check "setup succeeds once the route is gone" call setup

# ---- crash safety: SIGKILL during warm-up ----
# Each round empties the pool (teardown), then starts netsvc without waiting
# and kills it: Setup at start is followed at once by warming 64 taps. The
# first rounds kill after a fixed time (before, during or after the warm-up,
# as the machine's speed has it); the others kill as soon as net.db shows a
# given number of tap rows, so some kills land during the warm-up however
# slow or loaded the machine is.
stop_netsvc
set_pool 64
hit=0
tap_rows() { sqlite3 -cmd '.timeout 2000' "$DB" "SELECT count(*) FROM taps" 2>/dev/null || echo 0; }
# at_least N CMD...: waits (10 s at most, looking every 10 ms) until CMD prints
# a number >= N.
at_least() {
        local n=$1; shift
        for _ in $(seq 1000); do
                [ "$("$@")" -ge "$n" ] && return 0
                sleep 0.01
        done
        return 1
}
acq_answered() { wc -l < "$H/acq.out"; }
for when in 0.02 0.06 0.1 0.2 rows:1 rows:4 rows:16 rows:40; do
        # The restart reconciles whatever the previous kill left behind.
        start_netsvc >/dev/null || bad "restart after a kill"
        if [ "$when" != 0.02 ]; then
                wait_warm 64 && consistent || bad "kernel and net.db disagree after the kill at $when"
        fi
        call teardown >/dev/null
        kill_netsvc
        ip netns exec "$NS" env BANGER_HOME="$H" "$BIN/banger-netsvc" --owner-uid $OWNER \
                >>"$H/netsvc.log" 2>&1 &
        NPID=$!
        case $when in
        rows:*) at_least "${when#rows:}" tap_rows ;;
        *) sleep "$when" ;;
        esac
        kill_netsvc
        warm=$(sqlite3 "$DB" "SELECT count(*) FROM taps WHERE state = 'warm'")
        creating=$(sqlite3 "$DB" "SELECT count(*) FROM taps WHERE state = 'creating'")
        kernel=$(kernel_taps | wc -l)
        if [ "$creating" -gt 0 ] || { [ "$warm" -gt 0 ] && [ "$warm" -lt 64 ]; }; then
                hit=$((hit + 1))
        fi
        echo "  killed at $when: $warm warm and $creating creating rows, $kernel bg taps in the kernel"
done
check "some kills landed during warm-up ($hit of 8)" [ "$hit" -gt 0 ]
check "restart after SIGKILLs" start_netsvc
check "pool warms to 64 after the crashes" wait_warm 64
check "kernel and net.db agree after crashes during warm-up" consistent

# ---- crash safety: SIGKILL during acquire ----
# Killed once some acquires were answered (however slow the machine), long
# before all 400 are.
"$CALLT" "$URL" acquire-loop crash 400 > "$H/acq.out" 2>/dev/null &
LPID=$!
at_least 5 acq_answered
kill_netsvc
wait $LPID 2>/dev/null
got=$(wc -l < "$H/acq.out")
echo "  $got of 400 acquires answered before the kill"
check "the kill landed during the acquires" bash -c '[ "$1" -gt 0 ] && [ "$1" -lt 400 ]' _ "$got"
check "restart after SIGKILL during acquire" start_netsvc
check "pool back to 64 warm" wait_warm 64
check "kernel and net.db agree after a crash during acquire" consistent
check "every answered acquire is still held" bash -c "
        while read -r vm t; do
                sqlite3 '$DB' \"SELECT state FROM taps WHERE name = '\$t' AND vm_name = '\$vm'\" | grep -qx used || exit 1
        done < '$H/acq.out'"
if [ "$got" -gt 0 ]; then
        first=$(head -1 "$H/acq.out")
        check "a retried acquire returns the same tap" bash -c "'$CALLT' '$URL' acquire ${first% *} | grep -qx 'tap=${first#* }'"
fi

# ---- reconcile: orphans both ways ----
stop_netsvc
inns ip tuntap add bgt999999 mode tap
inns ip tuntap add keepme0 mode tap
inns ip tuntap add bgforeign mode tap # another program's, its name merely starts with bg
sqlite3 "$DB" "INSERT INTO taps(name, vm_name, created_unix_ms, state) VALUES ('bgt888888', 'ghost', 0, 'used'), ('bgt777777', NULL, 0, 'creating')"
check "restart with orphans" start_netsvc
check "orphan bg tap deleted" bash -c "! ip netns exec $NS ip link show bgt999999 >/dev/null 2>&1"
check "a tap that is not banger's is left alone" inns ip link show keepme0
check "a bg-named tap the pool does not name that way is left alone" inns ip link show bgforeign
inns ip link del bgforeign
check "in-use tap missing from the kernel re-created" inns ip link show bgt888888
check "unfinished row undone" [ "$(sqlite3 "$DB" "SELECT count(*) FROM taps WHERE name = 'bgt777777'")" = 0 ]
check "kernel and net.db agree after reconcile" consistent

# ---- CLI through the gateway ----
ip netns exec "$NS" env BANGER_HOME="$H" "$BIN/banger-gateway" >>"$H/gateway.log" 2>&1 &
GPID=$!
for _ in $(seq 100); do [ -S "$H/run/gateway.sock" ] && break; sleep 0.05; done
sleep 0.3
out=$("$BIN/banger" net status 2>&1)
echo "$out" | sed 's/^/  | /'
check "banger net status shows the bridge" grep -q 'banger0' <<<"$out"
check "banger net status --json is JSON with nft_present" bash -c '"$1" net status --json | jq -e ".nft_present and .bridge == \"banger0\"" >/dev/null' _ "$BIN/banger"
out=$("$BIN/banger" net leases 2>&1)
echo "$out" | sed 's/^/  | /'
check "banger net leases lists web" grep -Eq '^web +172\.30\.0\.2 ' <<<"$out"
check "banger net leases --json" bash -c '"$1" net leases --json | jq -e "any(.leases[]; .name == \"web\" and .ip == \"172.30.0.2\")" >/dev/null' _ "$BIN/banger"
"$BIN/banger" net teardown </dev/null >/dev/null 2>&1; rc=$?
check "teardown without --force off a TTY is refused (exit $rc)" [ "$rc" = 2 ]
check "bridge still there" inns ip link show banger0
check "banger net teardown --force" "$BIN/banger" net teardown --force
check "bridge removed" bash -c "! ip netns exec $NS ip link show banger0 >/dev/null 2>&1"
check "nft table removed" bash -c "! ip netns exec $NS nft list table inet banger >/dev/null 2>&1"
check "no bg taps left in the kernel" [ -z "$(kernel_taps)" ]
check "no tap rows left in net.db" [ "$(sqlite3 "$DB" "SELECT count(*) FROM taps")" = 0 ]
check "leases kept without --purge" [ "$(sqlite3 "$DB" "SELECT count(*) FROM leases")" -gt 0 ]
check "status says not set up" [ "$(field set_up)" = 0 ]
expect_code 5 "acquire after teardown fails with FAILED_PRECONDITION" acquire late
check "pool stays empty after teardown" bash -c "sleep 0.3; [ -z \"\$(ip netns exec $NS ip -o link show type tun | grep ': bg')\" ]"
check "teardown is idempotent, --purge forgets leases" "$BIN/banger" net teardown --force --purge
check "leases purged" [ "$(sqlite3 "$DB" "SELECT count(*) FROM leases")" = 0 ]
check "setup brings it all back" call setup
check "pool warms again" wait_warm 64

stop_netsvc
check "netsvc logged no sanitizer report" bash -c '! grep -qE "Sanitizer|runtime error" "$1"' _ "$H/netsvc.log"

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
