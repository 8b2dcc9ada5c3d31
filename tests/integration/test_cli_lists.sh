#!/usr/bin/env bash
# Issue #22 items 4-6 and #21 item 4 (lists), against the real services: VM
# labels (stored, shown, capped by config), vm list -q/--format/--state/
# --image/--label and `banger ps`, verbs on many VMs (one error line per
# failing VM, the others still done, the exit code), --quiet, --verbose and
# colour only on a terminal without NO_COLOR. No VM boots: the VMs come from
# a small image pulled from Debian's docker-registry on loopback (twice, as
# golden and other) and a generated kernel that no VMM can boot, so every
# create ends in state error, which keeps its labels.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger-netsvc needs CAP_NET_ADMIN"
: "${KERNEL_MKIMAGE:?run through ctest}"
. "$(dirname "$0")/registry_lib.sh"
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
need_built "$AGENT" "$KERNEL_MKIMAGE"
registry_need
need_tools jq script curl nngcat protoc
export BANGER_AGENT_BINARY="$AGENT"
registry_new_home
registry_busy "$W"
"$KERNEL_MKIMAGE" bzimage "$W/bzImage" 512

mkdir -p "$BANGER_HOME/config"
printf '[vm]\nmax_labels = 3\nmax_label_value = 8\ndefault_kernel = "k1"\n' > "$BANGER_HOME/config/config.toml"
check "daemon start" "$BANGER" daemon start --timeout 20
B=$BANGER
"$B" kernel import "$W/bzImage" --name k1 >/dev/null 2>"$W/err" || fail_stop "kernel import: $(cat "$W/err")"
for n in golden other; do
        "$B" image pull "$R/test/busy:v1" --name "$n" >/dev/null 2>"$W/err" || fail_stop "image pull: $(cat "$W/err")"
done
mk() { # mk NAME IMAGE LABEL...: a VM left in state error (its kernel does not boot)
        local n=$1 img=$2; shift 2
        local l=()
        for x in "$@"; do l+=(--label "$x"); done
        "$B" --quiet vm create --cold --name "$n" --image "$img" "${l[@]}" >/dev/null 2>&1 || true
}
mk a golden team=infra env=dev
mk b other team=web
mk c golden

# Labels: stored with the VM, shown by vm show and --json.
check "vm show lists the labels, one per line" bash -c \
        'o=$("$1" vm show a); grep -q "^labels:    env=dev$" <<<"$o" && grep -q "^           team=infra$" <<<"$o"' _ "$B"
check "vm show --json has them as an object" bash -c \
        '[ "$("$1" vm show a --json | jq -c .labels)" = "{\"env\":\"dev\",\"team\":\"infra\"}" ]' _ "$B"
check "a VM without labels has {}" bash -c '[ "$("$1" vm show c --json | jq -c .labels)" = "{}" ]' _ "$B"

# Label rules: the CLI refuses a bad key or value before calling; the
# service enforces config vm.max_labels and vm.max_label_value.
out=$("$B" vm create --cold --name bad1 --label 'bad key=x' 2>&1) && rc=0 || rc=$?
check "a bad key is refused (exit 2) naming it" bash -c '[ $1 -eq 2 ] && grep -q "label key .bad key. has . ." <<<"$2"' _ "$rc" "$out"
out=$("$B" vm create --cold --name bad2 --label a=1 --label b=2 --label c=3 --label d=4 2>&1) && rc=0 || rc=$?
check "more than vm.max_labels labels: exit 9 naming the key" bash -c '[ $1 -eq 9 ] && grep -q "4 labels; at most 3 (config vm.max_labels)" <<<"$2"' _ "$rc" "$out"
out=$("$B" vm create --cold --name bad3 --label k=123456789 2>&1) && rc=0 || rc=$?
check "a value over vm.max_label_value: exit 9 naming the key" bash -c '[ $1 -eq 9 ] && grep -q "at most 8 (config vm.max_label_value)" <<<"$2"' _ "$rc" "$out"
out=$("$B" vm create --cold --name bad4 --label k=1 --label k=2 2>&1) && rc=0 || rc=$?
check "a key given twice: exit 2" bash -c '[ $1 -eq 2 ] && grep -q "k is given twice" <<<"$2"' _ "$rc" "$out"
check "  and none of them left a VM" bash -c '[ "$("$1" vm list -q | tr "\n" " ")" = "a b c " ]' _ "$B"

# Lists: -q, filters, --format, banger ps.
q() { "$B" "$@" | tr '\n' ' '; }
check "vm list -q: names only" [ "$(q vm list -q)" = "a b c " ]
check "banger ps -q is vm list -q" [ "$(q ps -q)" = "a b c " ]
check "--label KEY=VALUE" [ "$(q vm list -q --label team=infra)" = "a " ]
check "--label KEY: any value" [ "$(q vm list -q --label team)" = "a b " ]
check "--label twice: both must match" [ "$(q vm list -q --label team=infra --label env=dev)" = "a " ]
check "--label that nobody has: nothing" [ -z "$(q vm list -q --label env=prod)" ]
check "--image" [ "$(q vm list -q --image golden)" = "a c " ]
check "--state error" [ "$(q vm list -q --state error)" = "a b c " ]
check "--state running: nothing" [ -z "$(q vm list -q --state running)" ]
check "filters combine" [ "$(q vm list -q --state error --image golden --label env)" = "a " ]
check "--json filters too" bash -c '[ "$("$1" vm list --json --label team=web | jq -r ".[].name")" = b ]' _ "$B"
# The label filter is the service's (ListVmsRequest.labels), through a client
# with no banger code; one that does not send the field gets every VM.
lv() { rpc_text "ipc://$RUN/gateway.sock" banger.test.ListVmsCall banger.test.ListVmsReply \
        "method: \"/banger.v1.VmService/List\" $1" | grep -o '^    name: "[a-z0-9]*"' | cut -d'"' -f2 | tr '\n' ' '; }
check "List without labels (an older client): every VM" [ "$(lv "")" = "a b c " ]
check "List with labels: \"team=infra\": only a" [ "$(lv 'body { labels: "team=infra" }')" = "a " ]
check "List with labels KEY and KEY=VALUE: all must match" [ "$(lv 'body { labels: "team" labels: "env=dev" }')" = "a " ]
check "List with labels: \"team\": a and b" [ "$(lv 'body { labels: "team" }')" = "a b " ]
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ListVmsCall banger.test.ListVmsReply \
        'method: "/banger.v1.VmService/List" body { labels: "=x" }')
check "List with a malformed filter: INVALID_ARGUMENT" bash -c 'grep -q STATUS_INVALID_ARGUMENT <<<"$1"' _ "$out"
check "--state with an unknown state: exit 2 listing the states" bash -c \
        'e=$("$1" vm list --state runing 2>&1); [ $? -eq 2 ] && grep -q "use created, starting, running" <<<"$e"' _ "$B"
check "--format template" bash -c \
        '[ "$("$1" vm list --label team=infra --format "{{.Name}}:{{.Labels}}:{{.Image}}")" = "a:env=dev,team=infra:golden" ]' _ "$B"
check "--format with \\t" bash -c \
        '[ "$("$1" vm list --label team=web --format "{{.Name}}\t{{.State}}")" = "$(printf "b\terror")" ]' _ "$B"
check "--format column list: a table of those columns" bash -c \
        'o=$("$1" vm list --format name,state,image); [ "$(head -1 <<<"$o")" = "NAME  STATE  IMAGE" ] && grep -q "^b     error  other$" <<<"$o"' _ "$B"
check "--format 'table {{.Name}}\\t{{.Labels}}'" bash -c \
        '"$1" vm list --format "table {{.Name}}\t{{.Labels}}" | grep -q "^a     env=dev,team=infra$"' _ "$B"
check "an unknown field: exit 2 listing the valid ones" bash -c \
        'e=$("$1" vm list --format "{{.Nmae}}" 2>&1); [ $? -eq 2 ] && grep -q "unknown field .Nmae.; valid fields: name, id, state" <<<"$e"' _ "$B"
check "-q with --json: exit 2" bash -c '"$1" vm list -q --json 2>/dev/null; [ $? -eq 2 ]' _ "$B"
check "the default table has a WORKSPACE column (- when none)" bash -c \
        'o=$("$1" vm list); c=$(head -1 <<<"$o" | grep -bo WORKSPACE | cut -d: -f1); [ -n "$c" ] && [ "$(grep "^a " <<<"$o" | cut -c$((c + 1)))" = "-" ] || { echo "$o" >&2; false; }' _ "$B"
check "image list -q and --format" bash -c '"$1" image list -q && "$1" image list --format "{{.Name}}" && ! "$1" image list --format "{{.Foo}}" 2>/dev/null' _ "$B"
check "kernel list -q: names only" [ "$(q kernel list -q)" = "k1 " ]
check "template list --format name,state" bash -c '"$1" template list --format name,state | grep -q "^NAME  STATE$"' _ "$B"

# Colour: only on a terminal, never with NO_COLOR, --color overrides.
tty_out() { script -qec "$*" /dev/null 2>&1 | tr -d '\r'; }
check "on a terminal the state is coloured" bash -c 'grep -qF $'"'"'\033[31merror'"'"' <<<"$1"' _ "$(tty_out "$B" vm list)"
check "not with NO_COLOR set" bash -c '! grep -qF $'"'"'\033['"'"' <<<"$1"' _ "$(tty_out env NO_COLOR=1 "$B" vm list)"
check "not with --color=never" bash -c '! grep -qF $'"'"'\033['"'"' <<<"$1"' _ "$(tty_out "$B" --color=never vm list)"
check "not into a pipe" bash -c '! "$1" vm list | grep -qF $'"'"'\033['"'"'' _ "$B"
check "--color=always into a pipe" bash -c '"$1" vm list --color=always | grep -qF $'"'"'\033[31merror'"'"'' _ "$B"

# vm forward refuses what it cannot forward (it relays on real VMs in e2e).
check "vm forward of a VM that is not running: exit 5" bash -c \
        'e=$("$1" vm forward a 8080:80 2>&1); [ $? -eq 5 ] && grep -q "VM a is error, not running" <<<"$e"' _ "$B"
check "vm forward of no VM: exit 3" bash -c '"$1" vm forward nosuch 80 2>/dev/null; [ $? -eq 3 ]' _ "$B"
check "vm forward with a bad port spec: exit 2 naming it" bash -c \
        'e=$("$1" vm forward a 80: 2>&1); [ $? -eq 2 ] && grep -q "not \[HOSTPORT:\]GUESTPORT" <<<"$e"' _ "$B"
check "vm forward --detach of a VM that is not running: exit 5" bash -c \
        'e=$("$1" vm forward -d a 8080:80 2>&1); [ $? -eq 5 ] && grep -q "VM a is error, not running" <<<"$e"' _ "$B"
check "vm unforward of a port not forwarded: exit 3 naming it" bash -c \
        'e=$("$1" vm unforward a 8080 2>&1); [ $? -eq 3 ] && grep -q "VM a has no forward on host port 8080" <<<"$e"' _ "$B"
check "vm unforward with neither ports nor --all: exit 2" bash -c '"$1" vm unforward a 2>/dev/null; [ $? -eq 2 ]' _ "$B"
check "vm show --json of a VM without forwards: []" bash -c '[ "$("$1" vm show a --json | jq -c .forwards)" = "[]" ]' _ "$B"

# Verbs on many VMs. a, b and c are in state error: stop refuses each.
out=$("$B" vm stop a nosuch b 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/    /'
check "vm stop a nosuch b: one error line per VM, naming it" bash -c \
        '[ "$(wc -l <<<"$1")" = 3 ] && grep -q "^banger: a: VM a is error" <<<"$1" && grep -q "^banger: nosuch: no VM named .nosuch." <<<"$1" && grep -q "^banger: b: " <<<"$1"' _ "$out"
check "  different failures: exit 1" [ "$rc" -eq 1 ]
out=$("$B" vm kill a nosuch b 2>&1) && rc=0 || rc=$?
check "vm kill a nosuch b: a and b killed, nosuch fails, exit 3 (NOT_FOUND)" bash -c \
        '[ $2 -eq 3 ] && grep -q "^VM a killed$" <<<"$1" && grep -q "^VM b killed$" <<<"$1" && grep -q "^banger: nosuch: " <<<"$1"' _ "$out" "$rc"
check "vm stop --json a b: failures only, no JSON array of nothing" bash -c \
        'o=$("$1" vm stop --json a b 2>/dev/null); [ $? -eq 5 ] && [ -z "$o" ]' _ "$B"
check "vm kill --json a b: a JSON array of both" bash -c \
        '[ "$("$1" vm kill --json a b | jq -r "map(.name) | join(\",\")")" = "a,b" ]' _ "$B"
check "a single VM keeps the plain message (no name prefix)" bash -c \
        'e=$("$1" vm stop nosuch 2>&1); [ $? -eq 3 ] && grep -q "^banger: no VM named .nosuch." <<<"$e"' _ "$B"
out=$("$B" --quiet vm delete a nosuch2 b 2>&1 >/dev/null) && rc=0 || rc=$?
check "vm delete a nosuch2 b: exit 3, one error line" bash -c '[ $2 -eq 3 ] && [ "$(wc -l <<<"$1")" = 1 ] && grep -q "^banger: nosuch2: " <<<"$1"' _ "$out" "$rc"
check "  a and b are gone, c stays" [ "$(q vm list -q)" = "c " ]
check "--quiet: no confirmation on stdout" bash -c '[ -z "$("$1" vm delete c --quiet)" ]' _ "$B"
mk d golden
mk d2 golden
check "vm delete --json \$(banger vm list -q) deletes them all, an array of {id, name}" bash -c \
        '[ "$("$1" vm delete --json $("$1" vm list -q) | jq -r "map(.name) | join(\",\")")" = d,d2 ] && [ -z "$("$1" vm list -q)" ]' _ "$B"

# --verbose: each call, its status and time. --quiet: no progress.
check "--verbose names each call with status and time" bash -c \
        '"$1" --verbose vm list -q 2>&1 >/dev/null | grep -Eq "^banger: /banger.v1.VmService/List: OK in [0-9]+ ms$"' _ "$B"
out=$("$B" vm create --cold --name e 2>&1) || true
check "progress into a pipe is plain lines" bash -c 'grep -q "^stage 1/5: reserve$" <<<"$1" && ! grep -qF $'"'"'\033['"'"' <<<"$1"' _ "$out"
check "--verbose on an operation: the call, then the operation's end" bash -c \
        'e=$("$1" --verbose vm create --cold --name g 2>&1); grep -Eq "^banger: /banger.v1.VmService/Create: OK in [0-9]+ ms, operation [0-9a-f]+$" <<<"$e" && grep -Eq "^banger: operation [0-9a-f]+: [A-Z_]+ after [0-9]+ ms$" <<<"$e"' _ "$B"
out=$("$B" vm create --cold --name f --quiet 2>&1) || true
check "--quiet: no progress, only the error" bash -c '! grep -q "^stage" <<<"$1" && ! grep -q "^operation" <<<"$1" && [ "$(wc -l <<<"$1")" = 1 ]' _ "$out"
finish
