#!/usr/bin/env bash
# A client with no banger code: protoc --encode | nngcat | protoc --decode
# drives Gateway/Health through the gateway socket.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_tools nngcat protoc
new_home

"$BANGER" daemon start >/dev/null || { echo "daemon start failed"; exit 1; }
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.HealthCall banger.test.GatewayHealthReply \
        'method: "/banger.v1.Gateway/Health" op_id: "from-nngcat-1"')
echo "$out"
check "reply carries our op_id" grep -q 'op_id: "from-nngcat-1"' <<<"$out"
check "status OK (code omitted = 0)" bash -c '! grep -q "code:" <<<"$1"' _ "$out"
for s in netsvc imagesvc vmsvc workspacesvc; do
        check "$s reported up" bash -c 'grep -A1 "name: \"$2\"" <<<"$1" | grep -q "up: true"' _ "$out" "$s"
done
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.HealthCall banger.test.GatewayHealthReply \
        'method: "/banger.v1.Gateway/NoSuchMethod"')
check "unknown method gives UNIMPLEMENTED" grep -q 'STATUS_UNIMPLEMENTED' <<<"$out"
finish
