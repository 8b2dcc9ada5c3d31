#!/usr/bin/env bash
# Chaos: each service is SIGKILLed at each stage of vm create / start / stop /
# delete (a fault point armed with BANGER_FAULT=<stage>:<service>, see
# docs/testing.md) and at random moments of a create, then restarted with
# `banger daemon start`. After every restart:
#   - the VM the operation was about is consistent: running with its process,
#     tap and lease; stopped with its disks and no tap; or, for a create cut
#     short, fully undone (no process, tap, lease or directory; its row, if
#     any, in state error saying why) -- never created/starting/stopping;
#   - a VM that was running before ("keep") runs on in the same process and
#     its agent answers;
#   - once the VM is deleted, the host (links, nft, leases, taps, rows, files
#     under state/, processes, loop devices, mounts) is as it was before
#     (tests/e2e/leakcheck.sh).
# Runs in its own network namespace (e2e_lib.sh). Boots three guests.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip curl sqlite3 nft skopeo
[ -x /usr/bin/docker-registry ] || setup_fail "/usr/bin/docker-registry is missing (package docker-registry; scripts/install-deps.sh installs it)"
need_built "$BANGER_BUILD_DIR/tests/oci_layout_tool"

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
. "$(dirname "$0")/leakcheck.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}
ST="$BANGER_HOME/state"
LOGS="$ST/logs"
T_START=$(date +%s)

check "daemon start" "$B" daemon start --timeout 30
# One vCPU: under TCG on a busy host a guest boots faster alone on its
# thread. A host so loaded that the guest misses vmsvc's agent deadline
# twice cannot run this test.
if ! "$B" vm create --name keep --vcpu 1 --mem 512; then
        "$B" vm delete --force keep >/dev/null 2>&1 || true
        "$B" vm create --name keep --vcpu 1 --mem 512 ||
                fail_stop "vm create keep (the VM that must survive everything)"
fi
pass "vm create keep (the VM that must survive everything)"
KEEP_PID=$("$B" vm show keep --json | jq -r .pid) || KEEP_PID=0
# The pool refills in the background: settle before the baseline.
sleep 2
BASE="$BANGER_HOME/base.state"
leak_snapshot "$BASE"
leak_same "$BASE" 10 >/dev/null || leak_snapshot "$BASE"

netdb() { sqlite3 -readonly "$ST/net.db" "$1" 2>/dev/null; }
alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status"; }

# keep_ok: keep runs in the same process and its agent answers.
keep_ok() {
        local j
        j=$("$B" vm show keep --json 2>/dev/null) || return 1
        jq -e ".state == \"running\" and .pid == $KEEP_PID" <<<"$j" >/dev/null &&
                alive "$KEEP_PID" && "$B" vm health keep >/dev/null 2>&1
}

# vm_consistent NAME KIND: KIND is create (a create cut short may be undone
# whole) or exists (the VM existed before: its disks and lease stay).
vm_consistent() {
        local name=$1 kind=$2 j state pid tap id lease taps
        lease=$(netdb "SELECT ip FROM leases WHERE vm_name = '$name'")
        taps=$(netdb "SELECT count(*) FROM taps WHERE vm_name = '$name' AND state = 'used'")
        if ! j=$("$B" vm show "$name" --json 2>/dev/null); then
                [ "$kind" = create ] || [ "$kind" = deleted-or-stopped ] ||
                        { echo "  $name: the row is gone"; return 1; }
                [ -z "$lease" ] && [ "$taps" = 0 ] && return 0
                echo "  $name: no row, but lease '$lease', $taps taps"
                return 1
        fi
        state=$(jq -r .state <<<"$j"); pid=$(jq -r .pid <<<"$j"); tap=$(jq -r .tap <<<"$j")
        id=$(jq -r .id <<<"$j")
        case "$state" in
        running)
                alive "$pid" && [ -n "$tap" ] && [ "$taps" = 1 ] && [ -n "$lease" ] && return 0 ;;
        stopped)
                ! alive "$pid" && [ -z "$tap" ] && [ "$taps" = 0 ] && [ -d "$ST/vms/$id" ] && return 0 ;;
        error)
                if ! alive "$pid" && [ -z "$tap" ] && [ "$taps" = 0 ]; then
                        if [ "$kind" = create ]; then
                                [ -z "$lease" ] && [ ! -e "$ST/vms/$id" ] && return 0
                        else
                                [ -n "$lease" ] && [ -d "$ST/vms/$id" ] && return 0
                        fi
                fi ;;
        esac
        echo "  $name: state $state, pid $pid, tap '$tap' ($taps used in net.db), lease '$lease'," \
                "dir $( [ -e "$ST/vms/$id" ] && echo kept || echo gone): $(jq -r .error <<<"$j")"
        return 1
}

# settled NAME: no operation of NAME's is half-way (vmsvc finishes what it was
# doing when another service died under it).
settled() {
        local s
        s=$("$B" vm show "$1" --json 2>/dev/null | jq -r .state) || return 0
        case "$s" in starting | stopping | created) return 1 ;; esac
}

# arm SVC STAGE: restarts SVC with the fault point armed.
arm() {
        local pid
        pid=$(svc_pid "$1")
        kill "$pid"
        wait_for 15 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || kill -9 "$pid"
        BANGER_FAULT="$2:$1" "$B" daemon start --timeout 30 >/dev/null
}

# fired SVC STAGE PID: SVC (was PID) died at STAGE.
fired() {
        wait_for 90 bash -c '! kill -0 "$1" 2>/dev/null' _ "$3" &&
                grep -qhF "fault point $2: SIGKILL" "$LOGS/$1.log"
}

# after NAME KIND WHAT: the checks after a restart; then NAME is removed
# (unless KIND is keep-it) and the host must be as in BASE.
after() {
        local name=$1 kind=$2 what=$3
        check "$what: daemon start brings everything back" "$B" daemon start --timeout 30
        wait_for 150 settled "$name" || true
        check "$what: $name is consistent" vm_consistent "$name" "$kind"
        check "$what: keep still runs, same process, agent answers" keep_ok
        [ "$kind" = keep-it ] && return 0
        "$B" vm delete --force "$name" >/dev/null 2>&1 || true
        check "$what: after deleting $name nothing leaked" leak_same "$BASE" 15
}

# chaos SVC STAGE NAME KIND CMD...: CMD (about VM NAME) with SVC killed at STAGE.
chaos() {
        local svc=$1 stage=$2 name=$3 kind=$4 pid; shift 4
        arm "$svc" "$stage"
        pid=$(svc_pid "$svc")
        timeout 120 "$@" >/dev/null 2>&1 &
        local cli=$!
        check "$stage: $svc killed itself there" fired "$svc" "$stage" "$pid"
        # As systemd would: the service is back at once, while the caller waits.
        "$B" daemon start --timeout 30 >/dev/null 2>&1 || true
        wait "$cli" 2>/dev/null || true
        after "$name" "$kind" "$stage ($svc)"
}

# ---- create, cut at each stage, by each service it involves -------------------
n=0
for stage in vm.create.reserve vm.create.network vm.create.leased vm.create.disks \
        vm.create.boot vm.create.launched vm.create.agent; do
        n=$((n + 1))
        chaos vmsvc "$stage" "c$n" create "$B" vm create --name "c$n" --vcpu 1 --mem 256
done
n=$((n + 1)); chaos netsvc net.leased "c$n" create "$B" vm create --name "c$n" --vcpu 1 --mem 256
n=$((n + 1)); chaos netsvc net.tap.acquired "c$n" create "$B" vm create --name "c$n" --vcpu 1 --mem 256
n=$((n + 1)); chaos workspacesvc workspace.workdisk.written "c$n" create "$B" vm create --name "c$n" --vcpu 1 --mem 256
n=$((n + 1)); chaos gateway gateway.forwarded.Create "c$n" create "$B" vm create --name "c$n" --vcpu 1 --mem 256

# ---- image pull, cut at each stage ----------------------------------------------
. "$BANGER_SOURCE_DIR/tests/integration/registry_lib.sh"
LAYOUT="$BANGER_BUILD_DIR/tests/oci_layout_tool"
W="$BANGER_HOME/w"
mkdir -p "$W"
registry_start "$W/registry" || fail_stop "docker-registry did not start"
R="127.0.0.1:$REGISTRY_PORT"
printf '%s\n' 'dir etc 0755 0 0' 'file etc/hostname 0644 0 0 tiny' 'dir sbin 0755 0 0' \
        'file sbin/init 0755 0 0 #!init' 'dir root 0700 0 0' 'file root/.profile 0644 0 0 x' > "$W/tiny.spec"
"$LAYOUT" "$W/tiny" v1 --platform linux/amd64 --layer "$W/tiny.spec:gz" >/dev/null ||
        fail_stop "oci_layout_tool could not build the test image"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$W/policy.json"
skopeo --policy "$W/policy.json" copy -q --dest-tls-verify=false "oci:$W/tiny:v1" \
        "docker://$R/chaos/tiny:v1" || fail_stop "skopeo could not push the test image"
printf '[image]\ninsecure_registries = ["%s"]\n' "$R" | e2e_config

# image_consistent NAME: listed with its directory, or neither; no partial file.
image_consistent() {
        local parts
        parts=$(find "$ST/images" "$BANGER_CACHE_DIR/oci" -name '.tmp-*' 2>/dev/null)
        [ -z "$parts" ] || { echo "  partial files left: $parts"; return 1; }
        if "$B" image show "$1" >/dev/null 2>&1; then
                [ -f "$ST/images/$1/rootfs.ext4" ] && return 0
                echo "  image $1 is listed, its rootfs is missing"
        else
                [ ! -e "$ST/images/$1" ] && return 0
                echo "  image $1 is not listed, its directory is there"
        fi
        return 1
}
pull_after() {
        check "$1: daemon start brings everything back" "$B" daemon start --timeout 30
        check "$1: image tiny is whole or not there at all" image_consistent tiny
        check "$1: keep still runs, same process, agent answers" keep_ok
        "$B" image delete tiny >/dev/null 2>&1 || true
        check "$1: after deleting tiny nothing leaked" leak_same "$BASE" 15
}
pull_chaos() { # pull_chaos SVC STAGE
        local pid cli
        arm "$1" "$2"
        pid=$(svc_pid "$1")
        timeout 120 "$B" image pull "$R/chaos/tiny:v1" --name tiny >/dev/null 2>&1 &
        cli=$!
        check "$2: $1 killed itself there" fired "$1" "$2" "$pid"
        "$B" daemon start --timeout 30 >/dev/null 2>&1 || true
        wait "$cli" 2>/dev/null || true
        pull_after "$2 ($1)"
}
"$B" daemon start --timeout 30 >/dev/null 2>&1
kill "$(svc_pid imagesvc)"; sleep 1
check "imagesvc restarted with the registry allowed" "$B" daemon start --timeout 30
leak_snapshot "$BASE" # the registry runs from now on
for stage in image.pull.download image.pull.flatten image.pull.guest image.pull.publish \
        image.publish.renamed; do
        pull_chaos imagesvc "$stage"
done
pull_chaos gateway gateway.forwarded.Pull
check "image pull works after all that" "$B" image pull "$R/chaos/tiny:v1" --name tiny
"$B" image delete tiny >/dev/null 2>&1 || true
for d in 0.1 0.3 0.6; do
        timeout 120 "$B" image pull "$R/chaos/tiny:v1" --name tiny >/dev/null 2>&1 &
        cli=$!
        sleep "$d"
        kill -9 "$(svc_pid imagesvc)" 2>/dev/null || true
        sleep 0.2
        "$B" daemon start --timeout 30 >/dev/null 2>&1 || true
        wait "$cli" 2>/dev/null || true
        pull_after "SIGKILL imagesvc ${d}s into a pull"
done

# ---- random moments of a create ------------------------------------------------
for svc in vmsvc vmsvc vmsvc netsvc; do
        for d in 0.3 1.5 4; do
                n=$((n + 1))
                timeout 120 "$B" vm create --name "c$n" --vcpu 1 --mem 256 >/dev/null 2>&1 &
                cli=$!
                sleep "$d"
                kill -9 "$(svc_pid "$svc")" 2>/dev/null || true
                sleep 0.2
                "$B" daemon start --timeout 30 >/dev/null 2>&1 || true
                wait "$cli" 2>/dev/null || true
                after "c$n" create "SIGKILL $svc ${d}s into a create"
        done
done

# ---- stop, start and delete of a VM that has booted ------------------------------
check "vm create v" "$B" vm create --name v --vcpu 1 --mem 256
chaos vmsvc vm.stop.stopping v exists "$B" vm stop v
chaos vmsvc vm.stop.gone v exists "$B" vm stop v
for stage in vm.start.reserve vm.start.network vm.start.disks vm.start.boot; do
        chaos vmsvc "$stage" v exists "$B" vm start v
done
check "v starts again after all that" "$B" vm start v
"$B" vm kill v >/dev/null 2>&1 || true
for stage in vm.start.launched vm.start.agent; do
        chaos vmsvc "$stage" v exists "$B" vm start v
        "$B" vm kill v >/dev/null 2>&1 || true
done

# mk_stopped NAME: a stopped VM with its disks, without waiting for a boot
# (vmsvc dies once its VMM runs; the VM is adopted and killed).
mk_stopped() {
        local pid
        arm vmsvc vm.create.launched
        pid=$(svc_pid vmsvc)
        timeout 60 "$B" vm create --name "$1" --vcpu 1 --mem 256 >/dev/null 2>&1 || true
        fired vmsvc vm.create.launched "$pid" || true
        "$B" daemon start --timeout 30 >/dev/null
        "$B" vm kill "$1" >/dev/null 2>&1 || true
}
for stage in vm.delete.killed vm.delete.tap vm.delete.lease vm.delete.row; do
        mk_stopped "d-${stage##*.}"
        chaos vmsvc "$stage" "d-${stage##*.}" deleted-or-stopped "$B" vm delete --force "d-${stage##*.}"
done

echo "  chaos run time: $(( $(date +%s) - T_START )) s"
"$B" daemon stop >/dev/null 2>&1
finish
