#!/usr/bin/env bash
# Issue #21: what `vm create` / `vm run` do with --image and a missing kernel,
# in VmService (not the CLI), against the real processes and Debian's
# docker-registry on loopback. No VM boots (--no-start), so no KVM is needed.
#   - an unknown image name fails at once (NOT_FOUND) with the list of images
#     and a hint, and leaves no VM and no image behind;
#   - an OCI reference (HOST:PORT/REPO:TAG) is pulled on first use, with the
#     create's progress showing the "image" stage, under the name
#     `image pull` gives it; a second create reuses it (no second pull);
#   - a missing kernel that cannot be pulled fails before anything is pulled;
#   - `vm create --no-start` leaves the VM stopped, `banger ops --all` lists
#     the pull and the creates of every service, `vm ping` of a stopped or an
#     unknown VM fails with the documented exit codes;
#   - config ssh.key_path (item 6): a relative path, a key open to others, a
#     .pub file and a passphrase-protected key are refused by `config check`
#     with the fix; a good one is what VMs get in authorized_keys and what
#     the ssh config names, and banger makes no key of its own.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
: "${KERNEL_MKIMAGE:?run through ctest}"
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/registry_lib.sh"
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
need_built "$AGENT" "$KERNEL_MKIMAGE"
registry_need
need_tools jq
export BANGER_AGENT_BINARY="$AGENT"

registry_new_home
registry_busy "$W"

mkdir -p "$BANGER_HOME/config"
CFG="$BANGER_HOME/config/config.toml"
need_tools ssh-keygen debugfs
ssh-keygen -q -t ed25519 -N "" -C mine -f "$W/mykey"
ssh-keygen -q -t ed25519 -N "secret" -C locked -f "$W/locked"
cfg_key() { printf '[ssh]\nkey_path = "%s"\n' "$1" > "$CFG"; }
cfg_refused() { # cfg_refused PATH TEXT: config check fails (2) saying TEXT
        cfg_key "$1"
        local rc=0 out
        out=$("$BANGER" config check 2>&1) || rc=$?
        [ "$rc" -eq 2 ] && grep -qF -- "$2" <<<"$out" || { echo "got ($rc): $out" >&2; return 1; }
}
check "ssh.key_path: a relative path is refused" cfg_refused "mykey" "must be an absolute path or start with ~/"
check "ssh.key_path: a missing key is refused" cfg_refused "$W/nokey" "ssh.key_path $W/nokey: cannot use it"
chmod 644 "$W/mykey"
check "ssh.key_path: a key open to others is refused with the fix" cfg_refused "$W/mykey" "chmod 600 $W/mykey"
chmod 600 "$W/mykey"
chmod 600 "$W/mykey.pub"
check "ssh.key_path: a .pub file is refused" cfg_refused "$W/mykey.pub" "is not a private key"
check "ssh.key_path: a passphrase-protected key is refused" cfg_refused "$W/locked" "passphrase"
cfg_key "$W/mykey"
check "ssh.key_path: a good key passes config check" "$BANGER" config check

"$KERNEL_MKIMAGE" bzimage "$W/bzImage" 512
check "daemon start" "$BANGER" daemon start --timeout 20
"$BANGER" kernel import "$W/bzImage" --name k1 >/dev/null 2>"$W/err" || fail_stop "kernel import: $(cat "$W/err")"

vm_count() { "$BANGER" vm list --json | jq 'if type == "array" then length else (.vms | length) end'; }

# 1. An unknown image name: NOT_FOUND at once, with the images and a hint.
rc=0; "$BANGER" vm create --image typo --kernel k1 --no-start >/dev/null 2>"$W/err" || rc=$?
check "unknown image name exits 3 (NOT_FOUND)" [ "$rc" -eq 3 ]
check "the error names the image and what is here" grep -q "no image named 'typo' (images here: none yet)" "$W/err"
check "the error hints at a registry reference" grep -q -- "--image debian:bookworm" "$W/err"
check "no VM row is left by an unknown image" [ "$(vm_count)" -eq 0 ]
check "no image called typo was built" bash -c '! "$1" image show typo >/dev/null 2>&1' _ "$BANGER"

# 2. A kernel that is neither here nor pullable: fails before any pull.
rc=0; "$BANGER" vm create --image "$R/test/busy:v1" --kernel nosuch --no-start >/dev/null 2>"$W/err" || rc=$?
check "unpullable kernel fails" [ "$rc" -ne 0 ]
check "the error says the kernel cannot be pulled" grep -q "kernel nosuch is not here and cannot be pulled" "$W/err"
check "nothing was pulled for it" bash -c '! "$1" image show busy-v1 >/dev/null 2>&1' _ "$BANGER"

# 3. A reference is pulled on first use, by the service, with progress.
rc=0; "$BANGER" vm create --image "$R/test/busy:v1" --kernel k1 --no-start --name a1 >"$W/a1.out" 2>"$W/err" || rc=$?
check "create with a reference succeeds" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "progress showed the image stage first" grep -q "^stage 1/4: image" "$W/err"
check "the image was pulled under its default name" bash -c '"$1" image show busy-v1 --json | jq -e ".ref | endswith(\"test/busy:v1\")" >/dev/null' _ "$BANGER"
check "the VM uses the pulled image" bash -c '"$1" vm show a1 --json | jq -e ".image == \"busy-v1\"" >/dev/null' _ "$BANGER"
check "--no-start leaves the VM stopped" bash -c '"$1" vm show a1 --json | jq -e ".state == \"stopped\" and .pid == 0" >/dev/null' _ "$BANGER"

# ssh.key_path: the VM's authorized_keys holds that key, the ssh config names
# it, and banger made no key of its own.
a1_id=$("$BANGER" vm show a1 --json | jq -r .id)
auth=$(debugfs -R "cat /.ssh/authorized_keys" "$BANGER_HOME/state/vms/$a1_id/work.ext4" 2>/dev/null)
check "ssh.key_path: authorized_keys has the configured key" grep -qF "$(cut -d' ' -f1,2 "$W/mykey.pub")" <<<"$auth"
check "ssh.key_path: the ssh config names it" grep -qF "IdentityFile \"$W/mykey\"" "$BANGER_HOME/config/ssh/config" || cat "$BANGER_HOME/config/ssh/config" >&2
check "ssh.key_path: no banger key was made" [ ! -e "$BANGER_HOME/config/ssh/id_ed25519" ]

# 4. The second create reuses it: no second pull.
check "second create with the same reference" "$BANGER" vm create --image "$R/test/busy:v1" --kernel k1 --no-start --name a2
pulls=$("$BANGER" ops --all --json | jq '[.[] | select(.kind == "image.pull")] | length')
check "one pull for two creates (got $pulls)" [ "$pulls" -eq 1 ]
check "ops lists the VM creates" bash -c '"$1" ops --all --json | jq -e "[.[] | select(.service == \"vm\" and .kind == \"vm.create\" and .state == \"done\")] | length == 2" >/dev/null' _ "$BANGER"
check "ops --all: every service (vm, template, image, kernel, workspace) answered" bash -c '"$1" ops --all >/dev/null 2>"$2/ops.err"; rc=$?; [ $rc -eq 0 ] && [ ! -s "$2/ops.err" ]' _ "$BANGER" "$W"
check "ops (table) has a header and the pull" bash -c '"$1" ops --all | grep -q "^SERVICE" && "$1" ops --all | grep -q "image.pull"' _ "$BANGER"
check "ops with nothing running says so" bash -c '"$1" ops 2>&1 | grep -q "no running operations"' _ "$BANGER"

# 5. A name that exists under another reference is not silently replaced.
check "the reference by local name works too" "$BANGER" vm create --image busy-v1 --kernel k1 --no-start --name a3

# 6. vm ping: a stopped VM does not answer (DEADLINE_EXCEEDED, 8), an unknown
#    VM is NOT_FOUND (3) at once, JSON says ok false.
rc=0; "$BANGER" vm ping a1 --timeout 1 >/dev/null 2>"$W/err" || rc=$?
check "ping of a stopped VM exits 8 (got $rc)" [ "$rc" -eq 8 ]
check "ping says it did not answer" grep -q "did not answer within 1 s" "$W/err"
rc=0; "$BANGER" vm ping nosuch >/dev/null 2>&1 || rc=$?
check "ping of an unknown VM exits 3 (got $rc)" [ "$rc" -eq 3 ]
rc=0; out=$("$BANGER" vm ping a1 --timeout 1 --json 2>/dev/null) || rc=$?
check "ping --json of a stopped VM: ok false, non-zero exit" bash -c '[ "$1" -ne 0 ] && jq -e ".ok == false and .attempts >= 1" <<<"$2" >/dev/null' _ "$rc" "$out"
rc=0; "$BANGER" vm ping a1 --timeout 0 >/dev/null 2>&1 || rc=$?
check "ping --timeout 0 is a usage error" [ "$rc" -eq 2 ]

finish
