#!/usr/bin/env bash
# Chaos: each service is SIGKILLed at each stage of vm create / start / stop /
# delete, image pull, template create and vm create --template (a fault point
# armed with BANGER_FAULT=<stage>:<service>, see docs/testing.md) and at random
# moments of a create and a pull, then restarted with `banger daemon start`.
# After every restart:
#   - the VM the operation was about is consistent: running with its process,
#     tap and lease; stopped with its disks and no tap; or, for a create cut
#     short, fully undone (no process, tap, lease or directory; its row, if
#     any, in state error saying why; a clone's row gone) -- never
#     created/starting/stopping;
#   - a VM that was running before ("keep") runs on in the same process and
#     its agent answers;
#   - once the VM (image, template) is deleted, the host (links, nft, leases,
#     taps, rows, files under state/, processes, loop devices, mounts) is as it
#     was before (tests/e2e/leakcheck.sh).
# Runs in its own network namespace (e2e_lib.sh).
#
# Cost: one guest boots in full, the template's builder; keep is a clone of
# that template (a restore, not a boot). Every other VM is killed, adopted or
# deleted long before its guest is up, made with --no-start, restored from
# the template, or boots the "tiny" test image, whose init is no program: its
# kernel panics at once and its VMM exits (panic=-1), so a create that goes
# on after the kill ends without waiting for a guest.
#
# CHAOS_ONLY=ERE runs only the stages whose label matches (labels are
# "<section>/<service>/<stage>", e.g. CHAOS_ONLY='stop/|start/' or
# CHAOS_ONLY=vm.stop.gone); the template and keep are always made, the
# registry and the tiny image only when a stage needs them.
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
CHAOS_ONLY=${CHAOS_ONLY:-}
want() { [ -z "$CHAOS_ONLY" ] || grep -qE -- "$CHAOS_ONLY" <<<"$1"; }
# wants SECTION: SECTION's set-up is needed: no filter, a filter naming the
# section ("stop/"), or one without a "/" (a stage name: every set-up runs,
# each stage is picked by want).
wants() { [ -z "$CHAOS_ONLY" ] || [[ "$CHAOS_ONLY" != */* ]] || grep -qE -- "$CHAOS_ONLY" <<<"$1/"; }
phase() { echo "  [$(( $(date +%s) - T_START )) s] $*"; }
SMALL=(--vcpu 1 --mem 256)
# Deadlines (seconds) of waits on a condition, generous for a loaded 2-core
# CI host; each wait ends as soon as its condition holds. LEAK_WAIT: the host
# comes back to the baseline (netsvc refills its tap pool in the
# background); START_WAIT: `banger daemon start`; DELETE_WAIT: a delete
# that fails is retried.
LEAK_WAIT=${LEAK_WAIT:-90}
START_WAIT=${START_WAIT:-90}
DELETE_WAIT=${DELETE_WAIT:-120}

# The template's builder is the one guest that must boot: on a shared,
# loaded CI host a TCG guest may need more than e2e_config's 300 s.
VM_CFG=$'[vm]\nboot_timeout = "600s"\n'
e2e_config <<<"$VM_CFG"
check "daemon start" "$B" daemon start --timeout "$START_WAIT"
BASE="$BANGER_HOME/base.state"
# The pool refills in the background: settle before the baseline.
# rebase: the baseline is taken once two snapshots 2 s apart agree (within
# LEAK_WAIT seconds; on a loaded host the refill takes a while).
rebase() {
        local until=$(( $(date +%s) + LEAK_WAIT ))
        leak_snapshot "$BASE"
        while :; do
                sleep 2
                leak_snapshot "$BASE.next"
                cmp -s "$BASE" "$BASE.next" && break
                mv "$BASE.next" "$BASE"
                [ "$(date +%s)" -lt "$until" ] || break
        done
        rm -f "$BASE.next"
}
rebase
cp "$BASE" "$BASE.empty" # no VM, no template: what the end must come back to
KEEP_PID=""

netdb() { sqlite3 -readonly "$ST/net.db" "$1" 2>/dev/null; }
alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status"; }

# keep_ok: keep runs in the same process and its agent answers.
keep_ok() {
        local j out
        j=$("$B" vm show keep --json 2>&1) || { echo "  vm show keep: $j"; return 1; }
        jq -e ".state == \"running\" and .pid == $KEEP_PID" <<<"$j" >/dev/null ||
                { echo "  keep: $(jq -c '{state, pid, error}' <<<"$j"), not running as $KEEP_PID"; return 1; }
        alive "$KEEP_PID" || { echo "  keep: its VMM (pid $KEEP_PID) is gone"; return 1; }
        out=$("$B" vm health keep 2>&1) || { echo "  vm health keep: $out" | tail -3; return 1; }
}

# vm_consistent NAME KIND: KIND is create (a create cut short may be undone
# whole) or exists (the VM existed before: its disks and lease stay).
# The row is read before net.db: vmsvc gives the lease back before it removes
# the row, so a delete still finishing (its Release retried once netsvc is
# back) can never look like a row gone with its lease kept.
vm_consistent() {
        local name=$1 kind=$2 j state pid tap id lease taps rc=0
        j=$("$B" vm show "$name" --json 2>&1) || rc=$?
        lease=$(netdb "SELECT ip FROM leases WHERE vm_name = '$name'")
        taps=$(netdb "SELECT count(*) FROM taps WHERE vm_name = '$name' AND state = 'used'")
        if [ "$rc" != 0 ]; then
                # Not an answer (vmsvc down, a deadline) is no "no row".
                grep -q NOT_FOUND <<<"$j" || { echo "  vm show $name: $j"; return 1; }
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
        BANGER_FAULT="$2:$1" "$B" daemon start --timeout "$START_WAIT" >/dev/null
}

# fired SVC STAGE PID: SVC (was PID) died at STAGE.
fired() {
        wait_for 90 bash -c '! kill -0 "$1" 2>/dev/null' _ "$3" &&
                grep -qhF "fault point $2: SIGKILL" "$LOGS/$1.log"
}

# reap_cli PID: the CLI call of a stage has had its chance to end (a caller
# whose service died may wait on an operation that is gone): stopped now.
reap_cli() {
        wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$1" || kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

# explain WHAT: after a failed check, what the services said (their logs'
# last lines, and what a vm list answers now), once per stage.
explain() {
        local l
        echo "---- $1: vm list now: $("$B" vm list 2>&1 | tail -5)"
        for l in vmsvc gateway netsvc; do
                echo "---- $l log (last 15 lines)"
                tail -n 15 "$LOGS/$l.log" 2>/dev/null | cut -c1-400
        done
}

# after NAME KIND WHAT: the checks after a restart; then NAME is removed
# (unless KIND is exists: the next stages go on with it) and the host must be
# as in BASE.
after() {
        local name=$1 kind=$2 what=$3 fails=$T_FAILS
        check "$what: daemon start brings everything back" "$B" daemon start --timeout "$START_WAIT"
        wait_for 150 settled "$name" || true
        # A caller's operation may still be finishing (a delete whose Release
        # waits for the restarted netsvc): consistent within 30 s, not at once.
        wait_for 30 vm_consistent "$name" "$kind" >/dev/null || true
        check "$what: $name is consistent" vm_consistent "$name" "$kind"
        check "$what: keep still runs, same process, agent answers" keep_ok
        [ "$T_FAILS" -eq "$fails" ] || explain "$what"
        [ "$kind" = exists ] && return 0
        check "$what: $name can be deleted" delete_vm "$name"
        check "$what: after deleting $name nothing leaked" leak_same "$BASE" "$LEAK_WAIT"
}

# delete_vm NAME: NAME is deleted. A delete that fails (netsvc, busy on a
# loaded host, did not answer in time) must leave a VM that a second delete
# removes: it is run again until it succeeds or DELETE_WAIT seconds have
# passed, and its last error is shown.
delete_vm() {
        local out until=$(( $(date +%s) + DELETE_WAIT ))
        while :; do
                out=$("$B" vm delete --force "$1" 2>&1) && return 0
                # gone (a retry raced it); no answer at all is not "gone"
                grep -q NOT_FOUND <<<"$out" && return 0
                grep -q NOT_FOUND <<<"$("$B" vm show "$1" 2>&1)" && return 0
                [ "$(date +%s)" -lt "$until" ] || break
                sleep 1
        done
        echo "  vm delete $1: $out"
        return 1
}

# chaos SECTION SVC STAGE NAME KIND CMD...: CMD (about VM NAME) with SVC
# killed at STAGE; skipped unless SECTION/SVC/STAGE is wanted.
chaos() {
        local section=$1 svc=$2 stage=$3 name=$4 kind=$5 pid cli t0=$(date +%s); shift 5
        want "$section/$svc/$stage" || return 0
        arm "$svc" "$stage"
        pid=$(svc_pid "$svc")
        timeout 120 "$@" >/dev/null 2>&1 &
        cli=$!
        check "$stage: $svc killed itself there" fired "$svc" "$stage" "$pid"
        # As systemd would: the service is back at once, while the caller waits.
        "$B" daemon start --timeout "$START_WAIT" >/dev/null 2>&1 || true
        after "$name" "$kind" "$stage ($svc)"
        reap_cli "$cli"
        phase "$section/$svc/$stage took $(( $(date +%s) - t0 )) s"
}

# random SECTION SVC DELAY NAME CMD...: SIGKILL of SVC DELAY seconds into CMD.
random_kill() {
        local section=$1 svc=$2 d=$3 name=$4 cli pid; shift 4
        want "$section/$svc/${d}s" || return 0
        timeout 120 "$@" >/dev/null 2>&1 &
        cli=$!
        sleep "$d"
        pid=$(svc_pid "$svc")
        kill -9 "$pid" 2>/dev/null || true
        wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || true
        "$B" daemon start --timeout "$START_WAIT" >/dev/null 2>&1 || true
        after "$name" create "SIGKILL $svc ${d}s into a create"
        reap_cli "$cli"
}

# ---- template create and vm create --template ---------------------------------
# tpl_consistent NAME: ready with its files, in error (a build cut short) with
# no builder process, tap or lease, or gone.
tpl_consistent() {
        local j state
        j=$("$B" template show "$1" --json 2>/dev/null) || return 0
        state=$(jq -r .state <<<"$j")
        case "$state" in
        ready) return 0 ;;
        error)
                [ "$(netdb "SELECT count(*) FROM taps WHERE vm_name = '$1' AND state = 'used'")" = 0 ] &&
                        ! pgrep -f "$ST/templates/" >/dev/null && return 0 ;;
        esac
        echo "  template $1: $state, $(jq -c '{tap, error}' <<<"$j")"
        return 1
}
tpl_chaos() { # tpl_chaos STAGE NAME
        local pid cli
        want "template/vmsvc/$1" || return 0
        arm vmsvc "$1"
        pid=$(svc_pid vmsvc)
        timeout 120 "$B" template create "$2" "${SMALL[@]}" >/dev/null 2>&1 &
        cli=$!
        check "$1: vmsvc killed itself there" fired vmsvc "$1" "$pid"
        "$B" daemon start --timeout "$START_WAIT" >/dev/null 2>&1 || true
        reap_cli "$cli"
        check "$1 (vmsvc): daemon start brings everything back" "$B" daemon start --timeout "$START_WAIT"
        check "$1 (vmsvc): template $2 is consistent" tpl_consistent "$2"
        [ -z "$KEEP_PID" ] || check "$1 (vmsvc): keep still runs, same process, agent answers" keep_ok
        "$B" template delete "$2" >/dev/null 2>&1 || true
        check "$1 (vmsvc): after deleting template $2 nothing leaked" leak_same "$BASE" "$LEAK_WAIT"
}
phase "template stages"
if wants template; then
        for stage in template.create.reserve template.create.network template.create.disks \
                template.create.boot template.create.agent; do
                tpl_chaos "$stage" "t-${stage##*.}"
        done
fi

# The template every clone (keep too) is made from: the test's one full boot.
phase "template tpl"
check "template create tpl" "$B" template create tpl --vcpu 1 --mem 512
if ! "$B" vm create --name keep --template tpl; then
        "$B" vm delete --force keep >/dev/null 2>&1 || true
        "$B" vm create --name keep --template tpl ||
                fail_stop "vm create keep (the VM that must survive everything)"
fi
pass "vm create keep --template tpl (the VM that must survive everything)"
phase "keep runs"
KEEP_PID=$("$B" vm show keep --json | jq -r .pid) || KEEP_PID=0
rebase

# ---- create, cut at each stage by vmsvc ----------------------------------------
# Before its VMM runs the VM is undone; after, vmsvc's restart adopts the
# running VMM (the guest need not be up for that) and the VM is deleted.
phase "create stages"
for stage in vm.create.reserve vm.create.network vm.create.leased vm.create.disks \
        vm.create.boot vm.create.launched vm.create.agent; do
        chaos create vmsvc "$stage" "c-${stage##*.}" create "$B" vm create --name "c-${stage##*.}" "${SMALL[@]}"
done
for stage in vm.create.disks; do
        chaos create-stopped vmsvc "$stage" "s-${stage##*.}" create \
                "$B" vm create --no-start --name "s-${stage##*.}" "${SMALL[@]}"
done
random_kill random vmsvc 1.5 r1 "$B" vm create --name r1 "${SMALL[@]}"

# ---- image pull, cut at each stage ----------------------------------------------
. "$BANGER_SOURCE_DIR/tests/integration/registry_lib.sh"
LAYOUT="$BANGER_BUILD_DIR/tests/oci_layout_tool"
W="$BANGER_HOME/w"
# The tiny image: pulled and cut short here, then kept for the creates that
# go on after a kill (its VM fails to boot at once, see above).
if wants pull || wants net || wants workspace || wants gateway || wants random-net ||
        wants delete-net; then
        phase "pull stages"
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
        printf '%s\n[image]\ninsecure_registries = ["%s"]\n' "$VM_CFG" "$R" | e2e_config
        pid=$(svc_pid imagesvc)
        kill "$pid"
        wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || kill -9 "$pid"
        check "imagesvc restarted with the registry allowed" "$B" daemon start --timeout "$START_WAIT"
        rebase # the registry runs from now on

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
                check "$1: daemon start brings everything back" "$B" daemon start --timeout "$START_WAIT"
                check "$1: image tiny is whole or not there at all" image_consistent tiny
                check "$1: keep still runs, same process, agent answers" keep_ok
                "$B" image delete tiny >/dev/null 2>&1 || true
                check "$1: after deleting tiny nothing leaked" leak_same "$BASE" "$LEAK_WAIT"
        }
        pull_chaos() { # pull_chaos SVC STAGE
                local pid cli
                want "pull/$1/$2" || return 0
                arm "$1" "$2"
                pid=$(svc_pid "$1")
                timeout 120 "$B" image pull "$R/chaos/tiny:v1" --name tiny >/dev/null 2>&1 &
                cli=$!
                check "$2: $1 killed itself there" fired "$1" "$2" "$pid"
                "$B" daemon start --timeout "$START_WAIT" >/dev/null 2>&1 || true
                reap_cli "$cli"
                pull_after "$2 ($1)"
        }
        for stage in image.pull.download image.pull.flatten image.pull.guest image.pull.publish \
                image.publish.renamed; do
                pull_chaos imagesvc "$stage"
        done
        pull_chaos gateway gateway.forwarded.Pull
        for d in 0.3; do
                want "pull/imagesvc/${d}s" || continue
                timeout 120 "$B" image pull "$R/chaos/tiny:v1" --name tiny >/dev/null 2>&1 &
                cli=$!
                sleep "$d"
                pid=$(svc_pid imagesvc)
                kill -9 "$pid" 2>/dev/null || true
                wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || true
                "$B" daemon start --timeout "$START_WAIT" >/dev/null 2>&1 || true
                reap_cli "$cli"
                pull_after "SIGKILL imagesvc ${d}s into a pull"
        done
        check "image pull works after all that" "$B" image pull "$R/chaos/tiny:v1" --name tiny
        rebase # tiny stays from now on
fi

# ---- a create that goes on after another service died under it ------------------
# netsvc between recording a lease or tap and answering (and at a random
# moment): vmsvc asks again once netsvc is back and carries on; tiny's guest
# fails at once, so the create ends (undone) without a boot to wait for.
# workspacesvc after writing the work disk, the gateway after vmsvc answered:
# vmsvc carries on; a --no-start create needs no guest at all.
phase "creates that go on"
TINY=(--image tiny "${SMALL[@]}")
chaos net netsvc net.leased n-leased create "$B" vm create --name n-leased "${TINY[@]}"
chaos net netsvc net.tap.acquired n-tap create "$B" vm create --name n-tap "${TINY[@]}"
random_kill random-net netsvc 1 rn1 "$B" vm create --name rn1 "${TINY[@]}"
chaos workspace workspacesvc workspace.workdisk.written w-disk create \
        "$B" vm create --no-start --name w-disk "${SMALL[@]}"
chaos gateway gateway gateway.forwarded.Create g-create create \
        "$B" vm create --no-start --name g-create "${SMALL[@]}"

# mk_running NAME: a VM whose VMM runs, adopted by a restarted vmsvc (vmsvc
# dies once its VMM runs), without waiting for its guest.
mk_running() {
        local pid cli
        arm vmsvc vm.create.launched
        pid=$(svc_pid vmsvc)
        timeout 60 "$B" vm create --name "$1" "${SMALL[@]}" >/dev/null 2>&1 &
        cli=$!
        fired vmsvc vm.create.launched "$pid" || true
        "$B" daemon start --timeout "$START_WAIT" >/dev/null
        reap_cli "$cli"
}
# mk_stopped NAME: a stopped VM with its disks, without a boot.
mk_stopped() {
        "$B" vm create --no-start --name "$1" "${SMALL[@]}" >/dev/null
}

# ---- netsvc dies while a VM is being deleted ------------------------------------
if wants delete-net; then
        phase "netsvc under a delete"
        want delete-net/netsvc/net.release.taps && mk_running dn-rel
        chaos delete-net netsvc net.release.taps dn-rel deleted-or-stopped "$B" vm delete --force dn-rel
        want delete-net/netsvc/net.tap.released && mk_running dn-tap
        chaos delete-net netsvc net.tap.released dn-tap deleted-or-stopped "$B" vm delete --force dn-tap
fi

# ---- stop and start of a VM ------------------------------------------------------
if wants stop || wants start; then
        phase "stop and start stages"
        mk_running v
        chaos stop vmsvc vm.stop.stopping v exists "$B" vm stop v
        want stop/vmsvc/vm.stop.gone || "$B" vm kill v >/dev/null 2>&1
        chaos stop vmsvc vm.stop.gone v exists "$B" vm stop v
        for stage in vm.start.reserve vm.start.network vm.start.leased vm.start.disks vm.start.boot; do
                chaos start vmsvc "$stage" v exists "$B" vm start v
        done
        for stage in vm.start.launched vm.start.agent; do
                chaos start vmsvc "$stage" v exists "$B" vm start v
                "$B" vm kill v >/dev/null 2>&1 || true
        done
        "$B" vm delete --force v >/dev/null 2>&1 || true
        check "stop/start: after deleting v nothing leaked" leak_same "$BASE" "$LEAK_WAIT"
fi

# ---- delete ----------------------------------------------------------------------
phase "delete stages"
for stage in vm.delete.killed vm.delete.tap vm.delete.lease vm.delete.row; do
        want "delete/vmsvc/$stage" || continue
        mk_running "d-${stage##*.}"
        chaos delete vmsvc "$stage" "d-${stage##*.}" deleted-or-stopped "$B" vm delete --force "d-${stage##*.}"
done

# ---- vm create --template (a clone), cut at each stage ----------------------------
phase "clone stages"
for stage in vm.create.reserve vm.create.network vm.create.disks vm.create.restore \
        vm.create.identity; do
        chaos clone vmsvc "$stage" "k-${stage##*.}" create \
                "$B" vm create --name "k-${stage##*.}" --template tpl
done
chaos clone netsvc net.tap.acquired k-net create "$B" vm create --name k-net --template tpl

# ---- the end: keep, the template and tiny go, and nothing of them stays -----------
if [ -n "${REGISTRY_PID:-}" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true # 143: it was killed (set -e)
fi
"$B" image delete tiny >/dev/null 2>&1 || true
check "keep is deleted" "$B" vm delete --force keep
check "template delete tpl" "$B" template delete tpl
check "after deleting keep and the template nothing leaked" leak_same "$BASE.empty" "$LEAK_WAIT"

echo "  chaos run time: $(( $(date +%s) - T_START )) s"
"$B" daemon stop >/dev/null 2>&1
finish
