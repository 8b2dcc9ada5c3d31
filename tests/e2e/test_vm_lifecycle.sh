#!/usr/bin/env bash
# e2e on a real VM, end to end through the CLI and every service, inside a
# fresh network namespace (the host's network is untouched):
#   daemon start → kernel pull debian-cloud-amd64 → image build golden →
#   vm create → running, agent up → ssh with the pinned host key → a file in
#   /root → stop → start → file still there → kill -9 vmsvc → VM survives,
#   restart → adopted and stoppable → delete → no process, tap back in the
#   pool, lease released, files and row gone. Also: a bad name leaves no row.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip curl

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}

check "daemon start" "$B" daemon start --timeout 30

rc=0; "$B" vm create --name 'Bad_Name' >/dev/null 2>&1 || rc=$?
check "a bad name is refused (exit 2)" [ "$rc" -eq 2 ]
check "and leaves no VM" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"

t0=$(date +%s)
check "vm create" "$B" vm create --name e2e --vcpu 1 --mem 1024
echo "  create to agent ready: $(( $(date +%s) - t0 )) s"
json=$("$B" vm show e2e --json) || json="{}"
check "VM is running" bash -c 'jq -e ".state == \"running\"" <<<"$1" >/dev/null' _ "$json"
case "${BANGER_E2E_VMM:-}" in
qemu | firecracker)
        check "on the VMM asked for (BANGER_E2E_VMM=$BANGER_E2E_VMM)" bash -c 'jq -e ".vmm == \"$2\"" <<<"$1" >/dev/null' _ "$json" "$BANGER_E2E_VMM" ;;
esac
ip=$(jq -r .ip <<<"$json")
id=$(jq -r .id <<<"$json")
tap=$(jq -r .tap <<<"$json")
hk=$(jq -r .host_key <<<"$json" | cut -d' ' -f1-2)
echo "  $ip $tap $id"
echo "$ip $hk" > "$BANGER_HOME/known_hosts"
export ip
vssh() {
        ssh -i "$BANGER_HOME/config/ssh/id_ed25519" -o UserKnownHostsFile="$BANGER_HOME/known_hosts" \
                -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
                -o LogLevel=ERROR "root@$ip" "$@"
}
export -f vssh
check "sshd up with the pinned host key" wait_for 90 vssh true
check "ssh runs a command" bash -c '[ "$(vssh hostname 2>/dev/null)" = e2e ]'
check "vm ssh NAME -- CMD runs it (ssh config kept by vmsvc)" bash -c '[ "$("$1" vm ssh e2e -- hostname 2>/dev/null </dev/null)" = e2e ]' _ "$B"
check "plain ssh NAME.vm with banger's ssh config, host key pinned" bash -c 'ssh -F "$1/config/ssh/config" -o BatchMode=yes e2e.vm true </dev/null' _ "$BANGER_HOME"
check "vm ssh forwards the exit code" bash -c '"$1" vm ssh e2e -- exit 3 </dev/null; [ $? -eq 3 ]' _ "$B"
vssh 'echo kept > /root/marker && sync' || true
check "the work disk is /root" bash -c 'vssh "findmnt -no SOURCE /root" | grep -q vdb'
check "the image's /root dotfiles are on the work disk (work seed)" bash -c 'vssh "test -f /root/.bashrc && test -f /root/.profile && test -f /root/.hushlogin"'
check "/root keeps the image's mode 0700" bash -c '[ "$(vssh stat -c %a /root)" = 700 ]'
img=$(jq -r .image <<<"$json")
krn=$(jq -r .kernel <<<"$json")
rc=0; "$B" image delete "$img" >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "deleting the image a VM uses is refused (exit 5) naming the VM" bash -c '[ $1 -eq 5 ] && grep -q "used by 1 VM (e2e)" "$2"' _ "$rc" "$BANGER_HOME/err"
rc=0; "$B" kernel delete "$krn" >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "so is deleting its kernel" bash -c '[ $1 -eq 5 ] && grep -q "e2e" "$2"' _ "$rc" "$BANGER_HOME/err"
rc=0; "$B" image promote e2e e2e-promoted >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "image promote of a running VM is refused (exit 5) with the hint to stop it" bash -c '[ $1 -eq 5 ] && grep -q "VM e2e is running; stop it first" "$2"' _ "$rc" "$BANGER_HOME/err"
check "  and leaves no image" bash -c '! "$1" image show e2e-promoted >/dev/null 2>&1' _ "$B"
up=$(awk '/^nameserver/ && $2 !~ /^127\./ && $2 ~ /^[0-9.]+$/ {print $2; exit}' /etc/resolv.conf)
if [ -n "$up" ]; then
        check "the guest resolves through the host's upstream DNS ($up)" bash -c 'vssh cat /etc/resolv.conf | grep -q "nameserver $1"' _ "$up"
fi

# vm forward: the guest's sshd on a free host port, until a signal.
"$B" vm forward e2e 0:22 > "$BANGER_HOME/fwd.out" 2>/dev/null &
fpid=$!
wait_for 15 grep -q " -> " "$BANGER_HOME/fwd.out" || true
fport=$(sed -n 's/^127\.0\.0\.1:\([0-9]*\) -> .*:22 (e2e\.vm)$/\1/p' "$BANGER_HOME/fwd.out")
check "vm forward e2e 0:22: the guest's sshd answers on the host port" bash -c \
        '[ -n "$1" ] && exec 3<>"/dev/tcp/127.0.0.1/$1" && timeout 10 head -c 7 <&3 | grep -q "^SSH-2.0"' _ "$fport"
kill -TERM "$fpid" 2>/dev/null # a background job ignores SIGINT; TERM is handled the same
rc=0; wait "$fpid" || rc=$?
check "  and ends on SIGTERM with exit 0" [ "$rc" -eq 0 ]

check "vm stop" "$B" vm stop e2e
json=$("$B" vm show e2e --json) || json='{}'
check "VM is stopped, no process" bash -c 'jq -e ".state == \"stopped\" and .pid == 0" <<<"$1" >/dev/null' _ "$json"
rc=0; "$B" vm ssh e2e -- true </dev/null >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "vm ssh on a stopped VM is refused (exit 5) saying so" bash -c '[ $1 -eq 5 ] && grep -q "is stopped" "$2"' _ "$rc" "$BANGER_HOME/err"
rc=0; "$B" vm set e2e --vcpu 2 || rc=$?
check "vm set --vcpu 2 on the stopped VM" [ "$rc" -eq 0 ]
check "image promote of the stopped VM" "$B" image promote e2e e2e-promoted
check "  the promoted image has the VM's kernel, an init and sshd" bash -c '"$1" image show e2e-promoted --json | jq -e ".kernel == \"$2\" and .has_init and .has_sshd" >/dev/null' _ "$B" "$krn"
check "vm start" "$B" vm start e2e
check "sshd back" wait_for 90 vssh true
check "file written before the stop is still there" bash -c '[ "$(vssh cat /root/marker)" = kept ]'
check "nproc is 2 after vm set --vcpu 2" bash -c '[ "$(vssh nproc)" = 2 ]'
rc=0; "$B" vm set e2e --vcpu 1 >/dev/null 2>&1 || rc=$?
check "vm set on a running VM is refused (exit 5)" [ "$rc" -eq 5 ]
out=$("$B" vm health e2e 2>&1) || true
check "vm health answers from the guest agent" grep -q "on e2e" <<<"$out"
out=$("$B" vm ports e2e --json 2>&1) || true
check "vm ports lists sshd on tcp 22" bash -c 'jq -e "map(select(.port == 22 and .proto == \"tcp\")) | length > 0" <<<"$1" >/dev/null' _ "$out"
out=$("$B" vm stats e2e --json 2>&1) || true
check "vm stats: VMM rss and guest CPUs" bash -c 'jq -e ".vmm_rss_bytes > 0 and .guest.cpus == 2" <<<"$1" >/dev/null' _ "$out"
check "vm logs shows the console" bash -c '"$1" vm logs e2e | grep -q "Linux version"' _ "$B"

# kill -9 vmsvc: the VM keeps running and is adopted by the next vmsvc.
qpid=$("$B" vm show e2e --json | jq -r .pid) || qpid=0
kill -9 "$(svc_pid vmsvc)"
sleep 1
check "VM survives SIGKILL of vmsvc" kill -0 "$qpid"
check "daemon start brings vmsvc back" "$B" daemon start
json=$("$B" vm show e2e --json) || json='{}'
check "the VM is adopted as running" bash -c 'jq -e ".state == \"running\" and .pid == $2" <<<"$1" >/dev/null' _ "$json" "$qpid"
check "and can be stopped" "$B" vm stop e2e

check "vm restart" "$B" vm restart e2e
check "sshd back after restart" wait_for 90 vssh true
check "vm delete of a running VM is refused without --force" bash -c '! "$1" vm delete e2e 2>/dev/null' _ "$B"
check "vm stop again" "$B" vm stop e2e
check "vm delete" "$B" vm delete e2e
check "VMM process gone" bash -c '! kill -0 "$1" 2>/dev/null || grep -q "^[0-9]* (.*) Z" /proc/$1/stat' _ "$qpid"
check "no VM left" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"
check "VM directory removed" [ ! -e "$BANGER_HOME/state/vms/$id" ]
leases=$("$B" net leases --json) || leases=FAILED
check "lease released" bash -c '[ "$1" != FAILED ] && ! grep -q "\"e2e\"" <<<"$1"' _ "$leases"
st=$("$B" net status --json) || st='{}'
check "its tap is back: none in use, the pool full again" bash -c 'jq -e ".tap_pool.in_use == 0 and .tap_pool.warm == .tap_pool.size" <<<"$1" >/dev/null' _ "$st"

# A VM whose kernel is neither here nor pullable is refused before anything
# is made (issue #21: vmsvc checks image and kernel first), saying why.
rc=0; "$B" vm create --name broken --kernel no-such-kernel >/dev/null 2>"$BANGER_HOME/broken.err" || rc=$?
check "a VM with a missing kernel fails" [ "$rc" -ne 0 ]
check "  naming the kernel" grep -q "no-such-kernel" "$BANGER_HOME/broken.err"
check "  and leaves no VM" bash -c '! "$1" vm show broken >/dev/null 2>&1' _ "$B"
st=$("$B" net status --json) || st='{}'
check "no tap held after the failure" bash -c 'jq -e ".tap_pool.in_use == 0" <<<"$1" >/dev/null' _ "$st"
check "no directory left for it" bash -c '[ -z "$(ls "$1/state/vms")" ]' _ "$BANGER_HOME"
check "vm prune --force with nothing to prune" "$B" vm prune --force

# Three VMs created in parallel all reach running (with labels, and p1 with
# a workspace, for the list checks below).
prepo="$BANGER_HOME/prepo"
git init -q "$prepo" && echo x > "$prepo/x" && git -C "$prepo" add x &&
        git -C "$prepo" -c user.email=t@t -c user.name=t commit -qm x
"$B" vm create --name p1 --mem 512 --label grp=par --workspace "$prepo" >/dev/null 2>&1 &
"$B" vm create --name p2 --mem 512 --label grp=par >/dev/null 2>&1 &
"$B" vm create --name p3 --mem 512 --label grp=solo >/dev/null 2>&1 &
wait
list=$("$B" vm list --json) || list='[]'
check "three VMs created in parallel are all running" bash -c 'jq -e "[.[] | select(.state == \"running\")] | length == 3" <<<"$1" >/dev/null' _ "$list"
# Lists and verbs on several VMs, on real ones (issue #22 items 4, 5; #21 item 4).
q() { "$B" "$@" | sort | tr '\n' ' '; }
check "vm list -q --state running --label grp=par" [ "$(q vm list -q --state running --label grp=par)" = "p1 p2 " ]
check "banger ps --format: p1's WORKSPACE is its repository" bash -c \
        '"$1" ps --label grp=par --format "{{.Name}} {{.Workspace}}" | grep -qx "p1 $2"' _ "$B" "$prepo"
rc=0; out=$("$B" vm stop p1 nosuch p2 2>&1) || rc=$?
echo "$out" | sed 's/^/    /'
check "vm stop p1 nosuch p2: both stopped, one error naming nosuch, exit 3" bash -c \
        '[ $2 -eq 3 ] && grep -qx "VM p1 stopped" <<<"$1" && grep -qx "VM p2 stopped" <<<"$1" && grep -q "^banger: nosuch: no VM named" <<<"$1"' _ "$out" "$rc"
check "  p3 still runs" [ "$(q vm list -q --state running)" = "p3 " ]
check "  p1 and p2 are stopped" [ "$(q vm list -q --state stopped)" = "p1 p2 " ]
# vm.auto_stop_after: vmsvc stops VMs whose guests stay idle (CPU < 10 %).
printf '[vm]\nauto_stop_after = "10s"\n' | e2e_config
"$B" daemon stop --timeout 10 >/dev/null 2>&1 || true
check "daemon start with vm.auto_stop_after = 10s (VMs kept running)" "$B" daemon start --timeout 30
t0=$(date +%s)
check "idle VMs are stopped by vm.auto_stop_after (p3, the one still running)" wait_for 180 bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq "[.[] | select(.state == \"stopped\")] | length")" = 3 ]' _ "$B"
echo "  all three stopped after $(( $(date +%s) - t0 )) s"
check "  and vmsvc's log says why" bash -c 'grep -h "idle for" "$1"/state/logs/vmsvc*.log | grep -q auto_stop_after' _ "$BANGER_HOME"
e2e_config </dev/null
"$B" daemon stop --timeout 10 >/dev/null 2>&1 || true
check "daemon start without auto-stop" "$B" daemon start --timeout 30
for n in p1 p2 p3; do "$B" vm delete --force $n >/dev/null 2>&1; done
check "and all deleted" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"

# vm run, the main job: exit codes, --rm, the workspace.
rc=0; out=$("$B" vm run --rm -- echo ok 2>"$BANGER_HOME/run.err") || rc=$?
check "vm run --rm -- echo ok prints ok and exits 0" bash -c '[ "$1" = ok ] && [ "$2" -eq 0 ]' _ "$out" "$rc"
check "and leaves no VM" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"
rc=0; "$B" vm run --rm -- sh -c 'exit 7' 2>/dev/null || rc=$?
check "vm run --rm -- sh -c 'exit 7' exits 7" [ "$rc" -eq 7 ]
repo="$BANGER_HOME/repo"
git init -q "$repo"
echo "hello from the host" > "$repo/tracked.txt"
echo "secret.txt" > "$repo/.gitignore"
echo "ignored" > "$repo/secret.txt"
git -C "$repo" add tracked.txt .gitignore
git -C "$repo" -c user.email=t@t -c user.name=t commit -qm init
out=$("$B" vm run --rm "$repo" -- sh -c 'cat tracked.txt; ls secret.txt 2>&1; git log --oneline | wc -l' 2>/dev/null) || true
echo "$out"
check "the workspace is copied: tracked file content" grep -qx "hello from the host" <<<"$out"
check "untracked ignored files are not copied" grep -q "No such file" <<<"$out"
check "the git history came along" grep -qx "1" <<<"$out"
check "no VM left after --rm runs" bash -c 'set -o pipefail; [ "$("$1" vm list --json | jq length)" = 0 ]' _ "$B"
"$B" daemon stop >/dev/null 2>&1
finish
