#!/usr/bin/env bash
# The five processes through `banger daemon start`, failure of one service,
# hostile envelopes on every socket, and restart.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger-netsvc needs CAP_NET_ADMIN"
need_tools nngcat setpriv
new_home

# A bad config refuses to start, and the error names file, line and key.
mkdir -p "$BANGER_HOME/config"
printf '# banger\n[vm]\nvcpu = "lots"\n' > "$BANGER_HOME/config/config.toml"
out=$("$BANGER" daemon start --timeout 5 2>&1) && fail "daemon start with a bad config succeeded"
echo "$out" | tail -3
check "bad config error names file, line and key" grep -q 'config.toml:3: vm.vcpu' <<<"$out"
rm -f "$BANGER_HOME/config/config.toml"

check "daemon start succeeds" "$BANGER" daemon start
out=$("$BANGER" status)
echo "$out"
for s in gateway netsvc imagesvc vmsvc workspacesvc; do
        check "status shows $s UP" grep -Eq "^$s +UP" <<<"$out"
done
check "status --json says all_up" bash -c '"$1" status --json | grep -q "\"all_up\": true"' _ "$BANGER"
check "second daemon start leaves running processes alone" \
        bash -c '"$1" daemon start | grep -q "vmsvc *already running"' _ "$BANGER"
# A second instance of a running service is refused without disturbing it.
out=$("$BIN/banger-vmsvc" 2>&1) && fail "a second banger-vmsvc started"
check "second vmsvc refused, naming the running pid" grep -q "already running (pid $(svc_pid vmsvc))" <<<"$out"
out=$(health_via "ipc://$RUN/vmsvc.sock" VmService)
check "vmsvc still answers new connections" grep -q 'service: "vmsvc"' <<<"$out"
check "sockets are 0600" bash -c 'for f in "$1"/*.sock; do [ "$(stat -c %a "$f")" = 600 ] || exit 1; done' _ "$RUN"

# SIGKILL one service.
victim=$(svc_pid vmsvc)
kill -9 "$victim"
t0=$(date +%s%N)
check "status shows vmsvc DOWN within 2 s" wait_for 2 bash -c '"$1" status | grep -Eq "^vmsvc +DOWN"' _ "$BANGER"
echo "  (took $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
check "status exits 7 while a service is down" bash -c '"$1" status >/dev/null; [ $? -eq 7 ]' _ "$BANGER"
out=$(health_via "ipc://$RUN/gateway.sock" VmService)
check "calls to vmsvc fail fast with UNAVAILABLE naming it" \
        bash -c 'grep -q STATUS_UNAVAILABLE <<<"$1" && grep -q vmsvc <<<"$1"' _ "$out"
for s in ImageService KernelService WorkspaceService NetService; do
        out=$(health_via "ipc://$RUN/gateway.sock" $s)
        check "calls to $s still succeed" bash -c 'grep -q "service:" <<<"$1" && ! grep -q "code:" <<<"$1"' _ "$out"
done
sleep 1
check "nothing restarted vmsvc behind our back" bash -c '"$1" status | grep -Eq "^vmsvc +DOWN"' _ "$BANGER"
check "daemon start restarts the dead service" "$BANGER" daemon start
check "vmsvc UP again" wait_for 3 bash -c '"$1" status | grep -Eq "^vmsvc +UP"' _ "$BANGER"

# Hostile input on every socket: garbage, truncated protobuf, an oversize message.
pids_before=$(cat "$RUN"/*.pid | cut -d' ' -f1 | sort | tr '\n' ' ')
junk=$(mktemp)
for sock in "$RUN"/*.sock; do
        for pattern in '\xff\xff\xff\xff\x0f' '\x0a\x80' '\x12\x05ab' '\x22\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01'; do
                printf "$pattern" > "$junk"
                reply=$(nngcat --req0 --dial "ipc://$sock" --raw --file "$junk" \
                        --recv-timeout 3 2>/dev/null | protoc --decode=banger.v1.Response \
                        -I "$PROTO_DIR" "$PROTO_DIR/banger/v1/rpc.proto" 2>/dev/null || true)
                if [ -n "$reply" ] && ! grep -q "STATUS_INVALID_ARGUMENT" <<<"$reply"; then
                        fail "$(basename "$sock") answered garbage with: $reply"
                fi
        done
done
# Oversize (5 MiB > the 4 MiB limit): dropped without a reply; all sockets at once.
head -c $((5 * 1024 * 1024)) /dev/zero > "$junk"
for sock in "$RUN"/*.sock; do
        nngcat --req0 --dial "ipc://$sock" --raw --file "$junk" --recv-timeout 2 \
                >/dev/null 2>&1 &
done
wait
rm -f "$junk"
pids_after=$(cat "$RUN"/*.pid | cut -d' ' -f1 | sort | tr '\n' ' ')
check "no process crashed on hostile envelopes" [ "$pids_before" = "$pids_after" ]
check "all processes alive" bash -c 'for p in $1; do kill -0 $p || exit 1; done' _ "$pids_after"
check "everything still UP" all_up

# A caller of another uid. The socket and runtime dir are private (0600/0700),
# so first open them up to prove the gateway's own peer-uid check refuses too.
chmod 0711 "$BANGER_HOME" "$RUN"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups nngcat --req0 \
        --dial "ipc://$RUN/gateway.sock" --data x --recv-timeout 3 2>&1 || true)
check "uid 65534 cannot connect to the 0600 socket" grep -qiE "permission|denied|refused" <<<"$out"
chmod 0666 "$RUN/gateway.sock"
req=$(mktemp); chmod 0644 "$req"
printf 'method: "/banger.v1.Gateway/Health"\n' | protoc --encode=banger.test.HealthCall \
        -I "$PROTO_DIR" -I "$TEST_PROTO_DIR" "$TEST_PROTO_DIR/calls.proto" > "$req"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups nngcat --req0 \
        --dial "ipc://$RUN/gateway.sock" --raw --file "$req" --recv-timeout 3 \
        2>/dev/null | protoc --decode=banger.v1.Response -I "$PROTO_DIR" \
        "$PROTO_DIR/banger/v1/rpc.proto" || true)
echo "$out"
check "gateway refuses uid 65534 with PERMISSION_DENIED" grep -q STATUS_PERMISSION_DENIED <<<"$out"
rm -f "$req"
chmod 0600 "$RUN/gateway.sock"

# netsvc without privileges says which one it lacks.
nb=$(mktemp -d /tmp/bgn.XXXXXX); chown 65534:65534 "$nb"
out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups env BANGER_HOME="$nb" \
        "$BIN/banger-netsvc" 2>&1; echo "rc=$?")
echo "$out" | tail -2
check "netsvc refuses to start unprivileged, naming CAP_NET_ADMIN" \
        bash -c 'grep -q CAP_NET_ADMIN <<<"$1" && ! grep -q "rc=0" <<<"$1"' _ "$out"
rm -rf "$nb"
chmod 0700 "$BANGER_HOME" "$RUN"

# Clean, idempotent stop.
check "daemon stop succeeds" "$BANGER" daemon stop
check "no pidfiles or sockets left" bash -c '! ls "$1"/*.pid "$1"/*.sock 2>/dev/null | grep -q .' _ "$RUN"
# Exited processes may linger as zombies until PID 1 reaps them.
check "processes are gone" bash -c 'for p in $1; do [ -e /proc/$p/stat ] && ! grep -q "^[0-9]* (.*) [ZX]" /proc/$p/stat && exit 1; done; exit 0' _ "$pids_after"
check "second daemon stop also succeeds" "$BANGER" daemon stop
check "status exits 7 when nothing runs" bash -c '"$1" status >/dev/null 2>&1; [ $? -eq 7 ]' _ "$BANGER"
finish
