#!/usr/bin/env bash
# Snapshot templates on real VMs, through the CLI and every service, in a
# fresh network namespace:
#   vm.template = "auto": the first VM of a kind boots cold and its template
#   is built in the background; the next ones are clones of it →
#   two clones differ in hostname, MAC, address, IPv6 link-local, clock
#   (stepped to host time), RNG output, SSH host key (pinned by the host) and
#   machine-id → a clone gets the file_sync entries and a workspace (vm run)
#   → pause/resume, kept across kill -9 of vmsvc → a template with clones is
#   not deleted (the error names them) → template create --from a stopped VM,
#   --template NAME, a request that does not fit the template → a clone
#   caught half-way by kill -9 of vmsvc is undone (no row, process, lease,
#   tap or directory) → a stopped clone boots cold from its own disks, same
#   name and host key → image delete takes an unused automatic template.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh ssh-keyscan ssh-keygen jq ip git sqlite3 curl

B="$BANGER"
E2E_TEMPLATE=auto
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}

# A file_sync entry every VM (clones too) must get.
mkdir -p "$BANGER_HOME/home"
echo "synced-secret" > "$BANGER_HOME/home/creds"
e2e_config <<TOML
[vm]
auto_templates = 2

[[file_sync]]
host = "$BANGER_HOME/home/creds"
guest = "~/.creds"
TOML
check "daemon start" "$B" daemon start --timeout 30

vjson() { "$B" vm show "$1" --json 2>/dev/null || echo '{}'; }
field() { jq -r ".$2" <<<"$(vjson "$1")"; }
# vssh VM CMD: ssh with the host key vmsvc pinned for VM (no TOFU).
vssh() {
        local vm=$1 ip hk; shift
        ip=$(field "$vm" ip)
        hk=$(field "$vm" host_key | cut -d' ' -f1-2)
        echo "$ip $hk" >"$BANGER_HOME/kh-$vm"
        ssh -i "$BANGER_HOME/config/ssh/id_ed25519" -o UserKnownHostsFile="$BANGER_HOME/kh-$vm" \
                -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
                -o LogLevel=ERROR "root@$ip" "$@" </dev/null
}
export -f vssh vjson field
export B

# --- vm.template = "auto": cold first, then clones of the kind's template.
t0=$(date +%s%N)
check "vm create (first of its kind: cold)" "$B" vm create --name cold1 --vcpu 2 --mem 1024
echo "  cold create: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "it booted cold (no template)" bash -c '[ "$(field cold1 template)" = "" ]'
check "an automatic template is being made for its kind" \
        bash -c '"$1" template list --json | jq -e "map(select(.auto)) | length == 1" >/dev/null' _ "$B"
check "the automatic template becomes ready" wait_for 240 bash -c \
        '"$1" template list --json | jq -e "map(select(.auto and .state == \"ready\")) | length == 1" >/dev/null' _ "$B"
auto=$("$B" template list --json | jq -r 'map(select(.auto))[0].name')
tj=$("$B" template show "$auto" --json) || tj='{}'
check "template show: RAM file and disks on disk, no clones yet" bash -c \
        'jq -e ".memory_file_bytes > 0 and .disk_bytes > 0 and (.clones | length) == 0" <<<"$1" >/dev/null' _ "$tj"

for n in a b; do
        t0=$(date +%s%N)
        check "vm create $n (a clone)" "$B" vm create --name $n --vcpu 2 --mem 1024
        echo "  clone $n: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        check "$n was cloned from $auto" bash -c '[ "$(field "$1" template)" = "$2" ]' _ $n "$auto"
done
check "ssh to a with its own pinned host key" wait_for 30 vssh a true
check "ssh to b with its own pinned host key" wait_for 30 vssh b true

# Two clones of one template differ in everything that identifies them.
probe='hostname; cat /sys/class/net/eth0/address; ip -4 -br addr show eth0 | awk "{print \$3}";
ip -6 -br addr show eth0 scope link | awk "{print \$3}"; cat /etc/machine-id;
head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"; echo; date +%s'
ta0=$(date +%s); ia=$(vssh a "$probe") || ia=""; ta1=$(date +%s)
tb0=$(date +%s); ib=$(vssh b "$probe") || ib=""; tb1=$(date +%s)
line() { sed -n "$2p" <<<"$1"; }
check "hostnames are the VMs' names" bash -c '[ "$1" = a ] && [ "$2" = b ]' _ "$(line "$ia" 1)" "$(line "$ib" 1)"
check "each MAC is the one vmsvc gave it, and they differ" bash -c \
        '[ "$1" = "$(field a mac)" ] && [ "$2" = "$(field b mac)" ] && [ "$1" != "$2" ]' _ "$(line "$ia" 2)" "$(line "$ib" 2)"
check "each address is its lease, and they differ" bash -c \
        '[ "${1%/*}" = "$(field a ip)" ] && [ "${2%/*}" = "$(field b ip)" ] && [ "$1" != "$2" ]' _ "$(line "$ia" 3)" "$(line "$ib" 3)"
check "IPv6 link-locals differ (made from the new MACs)" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$(line "$ia" 4)" "$(line "$ib" 4)"
check "machine-ids differ" bash -c '[ ${#1} -eq 32 ] && [ "$1" != "$2" ] && [ "$1" != "$3" ]' _ "$(line "$ia" 5)" "$(line "$ib" 5)" "$(vssh cold1 cat /etc/machine-id)"
check "the kernel RNG was reseeded: /dev/urandom output differs" bash -c '[ ${#1} -eq 64 ] && [ "$1" != "$2" ]' _ "$(line "$ia" 6)" "$(line "$ib" 6)"
# Each guest's clock read while the host's was between t0 and t1 (+-3 s).
check "clocks were stepped to the host's" bash -c \
        '[ "$1" -ge $(( $2 - 3 )) ] && [ "$1" -le $(( $3 + 3 )) ] && [ "$4" -ge $(( $5 - 3 )) ] && [ "$4" -le $(( $6 + 3 )) ]' \
        _ "$(line "$ia" 7)" "$ta0" "$ta1" "$(line "$ib" 7)" "$tb0" "$tb1"
ka=$(ssh-keyscan -t ed25519 "$(field a ip)" 2>/dev/null | awk '{print $3}')
kb=$(ssh-keyscan -t ed25519 "$(field b ip)" 2>/dev/null | awk '{print $3}')
check "sshd presents the host key vmsvc pinned, a fresh one per clone" bash -c \
        '[ -n "$1" ] && [ "$1" = "$(field a host_key | cut -d" " -f2)" ] && [ "$2" = "$(field b host_key | cut -d" " -f2)" ] && [ "$1" != "$2" ]' _ "$ka" "$kb"
check "a clone's /root is its own work disk" bash -c '[ "$(vssh a findmnt -no SOURCE /root)" = /dev/vdb ]'
check "a clone got the file_sync entry" bash -c '[ "$(vssh a cat /root/.creds)" = synced-secret ]'
# API commands on a clone run through the exec ports its template's snapshot
# has (the same device set), not over SSH: sshd is stopped for the call.
check "the template notes its exec ports" bash -c '[ "$(cat "$1"/state/templates/*/exec-ports)" = 8 ]' _ "$BANGER_HOME"
"$B" vm exec a -- sh -c 'systemctl stop ssh.socket ssh.service sshd.service 2>/dev/null; pkill -x sshd; true' >/dev/null 2>&1
out=$(RPC_TEXT_TIMEOUT=60 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.ExecReply \
        'method: "/banger.v1.WorkspaceService/Exec" deadline_ms: 60000 body { vm: "a" argv: "hostname" }')
check "Exec API on a clone without sshd: through the agent's exec port" grep -q 'stdout: "a\\n"' <<<"$out"
"$B" vm exec a -- sh -c 'systemctl start ssh.socket 2>/dev/null; systemctl start ssh.service 2>/dev/null || systemctl start sshd.service; true' >/dev/null 2>&1
check "  sshd is back on a" wait_for 60 vssh a true
check "the template's files hold no file_sync secret" bash -c \
        '! grep -rqa synced-secret "$1"/state/templates/*/work.ext4' _ "$BANGER_HOME"

# A workspace reaches a clone like a cold VM's (written into its work disk).
repo="$BANGER_HOME/repo"
git init -q "$repo" && echo "from the host" >"$repo/hello" && git -C "$repo" add hello &&
        git -C "$repo" -c user.name=t -c user.email=t@t commit -qm one
out=$("$B" vm run --rm "$repo" -- cat /root/repo/hello 2>"$BANGER_HOME/run.err") || out="FAILED"
check "vm run REPO on a clone sees the workspace" [ "$out" = "from the host" ]
check "  and it was a clone" grep -q "stage 5/5: identity" "$BANGER_HOME/run.err"

# Pause and resume; a paused VM stays paused across kill -9 of vmsvc.
check "vm pause a" "$B" vm pause a
check "a is paused" bash -c '[ "$(field a state)" = paused ]'
rc=0; "$B" vm exec a -- true >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "exec on a paused VM is refused, saying to resume" bash -c '[ $1 -ne 0 ] && grep -q "vm resume a" "$2"' _ "$rc" "$BANGER_HOME/err"
qpid=$(field a pid)
kill -9 "$(svc_pid vmsvc)"
sleep 1
check "the paused VM survives SIGKILL of vmsvc" kill -0 "$qpid"
check "daemon start brings vmsvc back" "$B" daemon start
check "a is still paused, same process" bash -c '[ "$(field a state)" = paused ] && [ "$(field a pid)" = "$1" ]' _ "$qpid"
check "vm resume a" "$B" vm resume a
check "a answers again" wait_for 30 vssh a true

# A template with clones is not deleted; the error names them.
rc=0; "$B" template delete "$auto" >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "template delete with clones is refused naming them" bash -c '[ $1 -ne 0 ] && grep -q "(a, b)" "$2"' _ "$rc" "$BANGER_HOME/err"

# template create --from a stopped VM: its disks, its files.
vssh cold1 'echo from-cold1 > /root/marker-from && sync' || true
check "vm stop cold1" "$B" vm stop cold1
check "template create t1 --from cold1" "$B" template create t1 --from cold1
check "vm create --template t1" "$B" vm create --name c --template t1
check "c has what cold1 had on its disks" wait_for 30 bash -c '[ "$(vssh c cat /root/marker-from)" = from-cold1 ]'
check "c still got the file_sync entry" bash -c '[ "$(vssh c cat /root/.creds)" = synced-secret ]'
rc=0; "$B" vm create --name d --template t1 --mem 512 >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "a request that does not fit the template is refused" bash -c '[ $1 -ne 0 ] && grep -q "template t1 is" "$2"' _ "$rc" "$BANGER_HOME/err"
check "and leaves no VM" bash -c '! "$1" vm show d >/dev/null 2>&1' _ "$B"

# A clone caught half-way by kill -9 of vmsvc is undone entirely.
taps_before=$("$B" net status --json | jq .tap_pool.in_use)
"$B" vm create --name half --template t1 >/dev/null 2>"$BANGER_HOME/half.err" &
cpid=$!
# Kill vmsvc once the clone's VMM runs (restore under way or just done).
hid=""
half_id() { sqlite3 "$BANGER_HOME/state/vms.db" "select id from vms where name='half'" 2>/dev/null; }
wait_for 60 bash -c '[ -n "$(sqlite3 "$1/state/vms.db" "select id from vms where name='"'"'half'"'"'")" ]' _ "$BANGER_HOME"
hid=$(half_id)
wait_for 60 test -s "$BANGER_HOME/state/vms/$hid/vmm.pid"
kill -9 "$(svc_pid vmsvc)"
wait $cpid 2>/dev/null || true
echo "  killed vmsvc while clone $hid was at: $(tail -1 "$BANGER_HOME/half.err")"
check "daemon start after the kill" "$B" daemon start
check "the half-made clone is gone" bash -c '! "$1" vm show half >/dev/null 2>&1' _ "$B"
check "  no VMM process of it" bash -c '[ -z "$2" ] || ! pgrep -f "$1/state/vms/$2" >/dev/null' _ "$BANGER_HOME" "$hid"
check "  no directory" bash -c '[ -z "$2" ] || [ ! -e "$1/state/vms/$2" ]' _ "$BANGER_HOME" "$hid"
check "  no lease" bash -c '! "$1" net leases --json | jq -e ".leases[] | select(.name == \"half\")" >/dev/null' _ "$B"
check "  its tap went back" bash -c '[ "$("$1" net status --json | jq .tap_pool.in_use)" = "$2" ]' _ "$B" "$taps_before"

# A stopped clone boots cold from its own disks, keeps its name and key.
hk=$(field b host_key)
check "vm stop b" "$B" vm stop b
check "vm start b (a cold boot of a clone)" "$B" vm start b
check "b answers with the same pinned host key" wait_for 90 vssh b true
check "b keeps its hostname and key" bash -c '[ "$(vssh b hostname)" = b ] && [ "$(field b host_key)" = "$1" ]' _ "$hk"

# Clean up: deleting the clones frees the templates; deleting the image
# takes its unused automatic template along.
for n in a b c cold1; do "$B" vm delete --force $n >/dev/null 2>&1; done
check "template delete t1 (no clones left)" "$B" template delete t1
check "its directory is gone" bash -c '[ "$(ls "$1/state/templates" | wc -l)" = 1 ]' _ "$BANGER_HOME"
check "image delete golden also removes the unused automatic template" "$B" image delete golden
check "no template left" bash -c '[ "$("$1" template list --json | jq length)" = 0 ] && [ -z "$(ls "$2/state/templates")" ]' _ "$B" "$BANGER_HOME"
st=$("$B" net status --json) || st='{}'
check "no tap held, no lease left" bash -c 'jq -e ".tap_pool.in_use == 0" <<<"$1" >/dev/null && [ "$("$2" net leases --json | jq ".leases | length")" = 0 ]' _ "$st" "$B"
finish
