#!/usr/bin/env bash
# Detached port forwards (vm forward --detach) on a real VM, in a fresh
# network namespace: a tiny HTTP server in the guest (perl, from the golden
# image's perl-base) → vm forward -d → fetched through 127.0.0.1:HOSTPORT →
# vm show (text and --json) and vm ports --open list it, with a hint for an
# unforwarded guest port → a host port in use or forwarded already, and
# config vm.max_forwards, each a clear error → kill -9 banger-vmsvc: the
# port closes with it, and the next vmsvc listens again (fetched again) →
# vm unforward → vm stop closes the port and drops the forward, and vm start
# does not bring it back.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip python3 curl

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}
export HOME="$BANGER_HOME/home"
mkdir -p "$HOME"
W="$BANGER_HOME/w"
mkdir -p "$W"
printf '[vm]\nmax_forwards = 2\n' | e2e_config

check "daemon start" "$B" daemon start --timeout 30
if ! "$B" vm create --name fw >/dev/null; then
        echo "  vm create fw: the guest was not ready in time; once more"
        "$B" vm delete --force fw >/dev/null 2>&1
        "$B" vm create --name fw >/dev/null || fail_stop "vm create fw (every check below needs it)"
fi
pass "vm create fw"

# An HTTP server in the guest on PORT answering "hello PORT", as a unit of
# its own (it outlives the exec).
serve() {
        "$B" vm exec fw -- systemd-run --quiet --unit "web$1" perl -MIO::Socket::INET -e '
                my $s = IO::Socket::INET->new(LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1) or die;
                while (my $c = $s->accept) { while (<$c>) { last if /^\r?$/ }
                        print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello $ARGV[0]\n"; close $c }' "$1"
}
listening() { "$B" vm exec fw -- sh -c "ss -ltnH | grep -q ':$1 '"; }
check "a web server in the guest on 8000" serve 8000
check "  listening" wait_for 180 listening 8000
check "another on 8001" serve 8001
check "  listening" wait_for 180 listening 8001

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HP=$(free_port)
fetch() { curl -s --max-time 10 "http://127.0.0.1:$1/"; }

out=$("$B" vm forward -d fw "$HP:8000" 2>"$W/err") && rc=0 || rc=$?
check "vm forward -d fw $HP:8000 returns at once (exit 0)" [ "$rc" -eq 0 ]
check "  and prints the forward" bash -c 'grep -Eq "^127\.0\.0\.1:$2 -> [0-9.]+:8000 \(fw\.vm\)$" <<<"$1"' _ "$out" "$HP"
check "fetched through the forward" [ "$(fetch "$HP")" = "hello 8000" ]
check "vm show lists it" bash -c '"$1" vm show fw | grep -Eq "^forwards: +127\.0\.0\.1:$2 -> 8000$"' _ "$B" "$HP"
json=$("$B" vm show fw --json) || json='{}'
check "vm show --json: address, ports and URL" bash -c \
        'jq -e ".forwards == [{\"address\":\"127.0.0.1\",\"host_port\":$2,\"guest_port\":8000,\"url\":\"http://127.0.0.1:$2\"}]" <<<"$1" >/dev/null' _ "$json" "$HP"
out=$("$B" vm ports fw --open 2>"$W/err") || true
check "vm ports --open prints the URL" [ "$out" = "http://127.0.0.1:$HP" ]
check "  and says how to forward the guest's other port" grep -q "guest port 8001 (perl) is not forwarded: banger vm forward -d fw 8001" "$W/err"

# Refusals: each names the port and the reason.
out=$("$B" vm forward -d fw "$HP:8001" 2>&1) && rc=0 || rc=$?
check "a host port forwarded already: exit 4 naming it" bash -c \
        '[ $1 -eq 4 ] && grep -q "host port 127.0.0.1:$3 is forwarded to VM fw already" <<<"$2"' _ "$rc" "$out" "$HP"
BUSY=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(120)' "$BUSY" &
HOLDER=$!
wait_for 10 bash -c 'ss -ltnH | grep -q "127.0.0.1:$1 "' _ "$BUSY" || true
out=$("$B" vm forward -d fw "$BUSY:8001" 2>&1) && rc=0 || rc=$?
check "a host port another program holds: exit 4 naming it" bash -c \
        '[ $1 -eq 4 ] && grep -q "listen on 127.0.0.1:$3: Address already in use" <<<"$2"' _ "$rc" "$out" "$BUSY"
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
HP2=$(free_port)
check "a second forward ($HP2:8001)" "$B" vm forward -d fw "$HP2:8001"
check "  fetched" [ "$(fetch "$HP2")" = "hello 8001" ]
out=$("$B" vm forward -d fw 0:8000 2>&1) && rc=0 || rc=$?
check "a third: over vm.max_forwards = 2, exit 9 saying so" bash -c \
        '[ $1 -eq 9 ] && grep -q "at most 2 (config vm.max_forwards)" <<<"$2"' _ "$rc" "$out"

# kill -9 vmsvc: the ports close with it; the next vmsvc listens again.
kill -9 "$(svc_pid vmsvc)"
check "with vmsvc killed, the port is closed" wait_for 10 bash -c '! curl -s --max-time 2 "http://127.0.0.1:$1/" >/dev/null' _ "$HP"
check "daemon start brings vmsvc back" "$B" daemon start
check "the forward is re-established: fetched again" wait_for 20 bash -c '[ "$(curl -s --max-time 2 "http://127.0.0.1:$1/")" = "hello 8000" ]' _ "$HP"
check "  and the second one" [ "$(fetch "$HP2")" = "hello 8001" ]
check "vm show still lists both" bash -c '[ "$("$1" vm show fw --json | jq -c "[.forwards[].host_port]")" = "[$2,$3]" ] || [ "$("$1" vm show fw --json | jq -c "[.forwards[].host_port]")" = "[$3,$2]" ]' _ "$B" "$HP" "$HP2"

check "vm unforward fw $HP2" "$B" vm unforward fw "$HP2"
check "  closes that port" bash -c '! curl -s --max-time 2 "http://127.0.0.1:$1/" >/dev/null' _ "$HP2"
check "  and keeps the other" [ "$(fetch "$HP")" = "hello 8000" ]
out=$("$B" vm unforward fw "$HP2" 2>&1) && rc=0 || rc=$?
check "vm unforward of a port no longer forwarded: exit 3" bash -c '[ $1 -eq 3 ] && grep -q "has no forward on host port $3" <<<"$2"' _ "$rc" "$out" "$HP2"

# vm stop: the forward goes, and a later start does not bring it back.
check "vm stop fw" "$B" vm stop fw
check "the host port is closed" bash -c '! curl -s --max-time 2 "http://127.0.0.1:$1/" >/dev/null && ! ss -ltnH | grep -q "127.0.0.1:$1 "' _ "$HP"
check "vm show lists no forwards" bash -c '[ "$("$1" vm show fw --json | jq -c .forwards)" = "[]" ]' _ "$B"
check "vm start fw" "$B" vm start fw
check "  no forward came back" bash -c '[ "$("$1" vm show fw --json | jq -c .forwards)" = "[]" ] && ! ss -ltnH | grep -q "127.0.0.1:$2 "' _ "$B" "$HP"
check "vm delete --force" "$B" vm delete --force fw
"$B" daemon stop >/dev/null 2>&1
finish
