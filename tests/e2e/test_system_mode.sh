#!/usr/bin/env bash
# e2e of system mode under a real systemd, on a host whose init is not
# systemd: sysd_lib.sh boots systemd as PID 1 of a throwaway container (an
# overlay of this host, inside a fresh network namespace), and there:
#   system install --owner → five active units, another user refused,
#   doctor clean for the owner →
#   a tun the owner cannot open: doctor FAILs row tun, vm create names it and
#   leaves the VM in state error, deletable → vm create as the owner (QEMU
#   under the vmsvc unit's sandbox) → ssh → workspace prepare from the
#   owner's home, vm exec, export → system restart: every unit
#   restarts, the VM keeps its QEMU process, network and disk, and the new
#   vmsvc adopts it → system install again (an upgrade): the services
#   restart, the VM stays → vm stop works → system uninstall: units, bridge and
#   nftables gone, data kept.
# The image and kernel come from e2e_setup (built once, on the host network)
# and are handed to the installed imagesvc as its state.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "namespaces, systemd as PID 1 of a container"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip nsenter unshare setpriv useradd mknod curl
[ -x /lib/systemd/systemd ] ||
        setup_fail "/lib/systemd/systemd is missing (package systemd; scripts/install-deps.sh installs it)"
[ -c /dev/net/tun ] || skip no-tun "this kernel has no /dev/net/tun"

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
T_PASSES=${T_PASSES:-0}
. "$(dirname "$0")/sysd_lib.sh"

SYSD_BINDS="$BANGER_BUILD_DIR $BANGER_SOURCE_DIR"
trap 'sysd_down' EXIT
t0=$(date +%s%N)
check "systemd boots as PID 1 of a container" sysd_up
echo "  boot: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ "$T_FAILS" -eq 0 ] || { finish; exit 1; }

sysd_owner bgowner

# The image and kernel built by e2e_setup become the installed imagesvc's.
R=$(sysd_file /)
mkdir -p "$R/var/lib/banger"
for f in images kernels images.db images.db-wal images.db-shm; do
        [ -e "$BANGER_HOME/state/$f" ] && cp -a "$BANGER_HOME/state/$f" "$R/var/lib/banger/"
done
sysd chown -R $OWNER: /var/lib/banger

out=$(sysd "$BANGER_BUILD_DIR/bin/banger" system install --owner $OWNER 2>&1) && rc=0 || rc=$?
check "system install --owner $OWNER" [ "$rc" -eq 0 ]
grep -q "every service is up" <<<"$out" || echo "$out" | tail -5
[ "$rc" -eq 0 ] || { finish; exit 1; }
st=$(sysd banger system status --json 2>/dev/null) || true
check "system status: every unit active and enabled" bash -c \
        '[ -n "$1" ] && jq -e ".all_active and ([.units[] | select(.enabled == \"enabled\")] | length == 5)" <<<"$1" >/dev/null' _ "$st"
unit_user() { sysd ps -o user= -p "$(sysd systemctl show -P MainPID "banger-$1.service")"; }
export -f unit_user
check "netsvc runs as root, the others as $OWNER" bash -c '
        [ "$(unit_user netsvc)" = root ] &&
        for s in imagesvc vmsvc workspacesvc gateway; do
                [ "$(unit_user $s)" = "$OWNER" ] || exit 1
        done'
sysd useradd -m -s /bin/bash bgother
rc=0; out=$(sysd setpriv --reuid=bgother --regid=bgother --init-groups env HOME=/home/bgother \
        banger vm list 2>&1) || rc=$?
check "another user is refused, told whose banger it is (exit 6)" bash -c \
        '[ "$1" -eq 6 ] && grep -q "installed for $OWNER" <<<"$2"' _ "$rc" "$out"
check "the owner sees the installed image and kernel" bash -c \
        'as_owner banger image list | grep -q golden && as_owner banger kernel list | grep -q debian-cloud-amd64'

# A host whose /dev/net/tun only root may open: the doctor says so, and
# vm create fails pointing at it; the VM is left in state error.
sysd chmod 0600 /dev/net/tun
doc=$(as_owner banger doctor --json 2>/dev/null) || true
row() { jq -r --arg id "$2" '.rows[] | select(.id == $id) | .status' <<<"$1"; }
check "doctor as the owner: tun FAIL when the owner cannot open it" [ "$(row "$doc" tun)" = FAIL ]
rc=0; out=$(as_owner banger vm create --cold --name sm --vcpu 1 --mem 1024 2>&1) || rc=$?
check "vm create fails, naming the doctor row" bash -c '[ "$1" -ne 0 ] && grep -q "row tun" <<<"$2"' _ "$rc" "$out"
json=$(as_owner banger vm show sm --json 2>/dev/null) || json='{}'
check "the VM is left in state error with the reason (docs/vms.md)" bash -c \
        'jq -e ".state == \"error\"" <<<"$1" >/dev/null && grep -q "/dev/net/tun" <<<"$1"' _ "$json"
check "no QEMU is left running" bash -c '! sysd pgrep -f qemu-system >/dev/null'
check "vm delete of the failed VM" as_owner banger vm delete sm

sysd chmod 0666 /dev/net/tun
doc=$(as_owner banger doctor --json 2>/dev/null) || true
for r in tun system.install system.sockets system.units nftables dns.port version; do
        check "doctor as the owner: $r PASS" [ "$(row "$doc" $r)" = PASS ]
done
check "doctor as the owner: no FAIL row" bash -c \
        '[ -n "$1" ] && jq -e "[.rows[] | select(.status == \"FAIL\")] | length == 0" <<<"$1" >/dev/null' _ "$doc"
[ "$(jq '[.rows[] | select(.status == "FAIL")] | length' <<<"$doc")" = 0 ] ||
        jq -c '.rows[] | select(.status == "FAIL")' <<<"$doc"

t0=$(date +%s)
rc=0; out=$(as_owner banger vm create --cold --name sm --vcpu 1 --mem 1024 2>&1) || rc=$?
check "vm create as the owner, under the vmsvc unit" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
json=$(as_owner banger vm show sm --json 2>/dev/null) || json='{}'
qpid=$(jq -r '.pid // 0' <<<"$json")
check "VM is running with a QEMU process" bash -c \
        '[ "$(jq -r .state <<<"$1")" = running ] && [ "$2" -gt 0 ] && sysd kill -0 "$2"' _ "$json" "$qpid"
check "QEMU runs as the owner" [ "$(sysd ps -o user= -p "$qpid")" = "$OWNER" ]
check "sshd up (vm ssh as the owner, host key pinned)" \
        wait_for 120 bash -c 'as_owner banger vm ssh sm -- true </dev/null >/dev/null 2>&1'
echo "  create to ssh: $(( $(date +%s) - t0 )) s"
as_owner banger vm ssh sm -- 'echo kept > /root/marker && sync' </dev/null >/dev/null 2>&1 || true

# The main job under the units' sandbox: a repository in the owner's home
# (read-only to workspacesvc) with enough loose objects that prepare packs
# them first, in its private /tmp.
as_owner bash -c 'set -e; mkdir ~/repo; cd ~/repo; git init -q
        git config user.email o@example.com; git config user.name Owner
        for i in $(seq 600); do echo "$i" > "f$i"; done
        git add . && git commit -qm files; echo dirty > f1' >/dev/null
export OWNER_HOME=/home/$OWNER
out=$(as_owner banger vm workspace prepare sm "$OWNER_HOME/repo" 2>&1) && rc=0 || rc=$?
check "vm workspace prepare from the owner's home" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
wslog=$(sysd journalctl -u banger-workspacesvc --no-pager)
check "it packed the loose objects (a writable private /tmp)" bash -c \
        '! grep -q "copying loose objects as they are" <<<"$1"' _ "$wslog"
check "and sent them over tcp to the agent" grep -q "over tcp to the agent, 0 over ssh" <<<"$wslog"
check "vm exec runs in the workspace and sees the dirty file" bash -c \
        '[ "$(as_owner banger vm exec sm -- cat f1 </dev/null 2>/dev/null)" = dirty ]'
as_owner banger vm exec sm -- sh -c 'echo guest > f2 && rm f3 && echo new > g1' </dev/null >/dev/null 2>&1 || true
check "vm workspace export, applied to a clean clone" as_owner bash -c '
        set -e; banger vm workspace export sm -o ~/ws.patch >/dev/null
        git clone -q ~/repo ~/clone; cd ~/clone; git apply ~/ws.patch
        [ "$(cat f1 f2 g1)" = "$(printf "dirty\nguest\nnew")" ] && [ ! -e f3 ]'

vmsvc_before=$(sysd systemctl show -P MainPID banger-vmsvc.service)
netsvc_before=$(sysd systemctl show -P MainPID banger-netsvc.service)
t0=$(date +%s%N)
out=$(sysd banger system restart 2>&1) && rc=0 || rc=$?
check "system restart" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  restart: $ms ms"
# A slow restart is worth seeing (the units' own account of it).
[ "$ms" -lt 3000 ] || sysd journalctl --no-pager -o short-precise --since "-$((ms / 1000 + 2))s" |
        grep -v '"level":"debug"' | cut -c1-220 | tail -40
check "vmsvc and netsvc are new processes" bash -c '
        a=$(sysd systemctl show -P MainPID banger-vmsvc.service)
        b=$(sysd systemctl show -P MainPID banger-netsvc.service)
        [ "$a" -gt 0 ] && [ "$a" != "$1" ] && [ "$b" -gt 0 ] && [ "$b" != "$2" ]' \
        _ "$vmsvc_before" "$netsvc_before"
check "the VM kept its QEMU process (KillMode=process)" bash -c \
        '[ "$1" -gt 0 ] && sysd kill -0 "$1"' _ "$qpid"
json=$(as_owner banger vm show sm --json 2>/dev/null) || json='{}'
check "the new vmsvc adopted it: running, same pid" bash -c \
        '[ "$(jq -r .state <<<"$1")" = running ] && [ "$(jq -r .pid <<<"$1")" = "$2" ]' _ "$json" "$qpid"
check "vmsvc's log says it adopted the VM" bash -c \
        'sysd journalctl -u banger-vmsvc --no-pager | grep -q "1 adopted"'
check "ssh still works, the disk kept its file" bash -c \
        '[ "$(as_owner banger vm ssh sm -- cat /root/marker </dev/null 2>/dev/null)" = kept ]'
check "the workspace is still known: vm exec runs in it" bash -c \
        '[ "$(as_owner banger vm exec sm -- pwd </dev/null 2>/dev/null)" = /root/repo ]'
# Installing again (an upgrade) restarts the services on the new files;
# the VM stays.
img_before=$(sysd systemctl show -P MainPID banger-imagesvc.service)
out=$(sysd "$BANGER_BUILD_DIR/bin/banger" system install --owner $OWNER 2>&1) && rc=0 || rc=$?
check "system install again restarts the services" bash -c '
        a=$(sysd systemctl show -P MainPID banger-imagesvc.service)
        [ "$1" -eq 0 ] && [ "$a" -gt 0 ] && [ "$a" != "$2" ]' _ "$rc" "$img_before"
[ "$rc" -eq 0 ] || echo "$out" | tail -5
check "and the VM is still running, adopted again" bash -c '
        j=$(as_owner banger vm show sm --json 2>/dev/null)
        [ "$(jq -r .state <<<"$j")" = running ] && [ "$(jq -r .pid <<<"$j")" = "$1" ]' _ "$qpid"
check "vm stop works on the adopted VM" as_owner banger vm stop sm
check "and its QEMU is gone" bash -c '[ "$1" -gt 0 ] && ! sysd kill -0 "$1" 2>/dev/null' _ "$qpid"
check "vm delete" as_owner banger vm delete sm

out=$(sysd banger system uninstall 2>&1) && rc=0 || rc=$?
check "system uninstall" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
check "no banger unit is left" bash -c \
        '[ -z "$(sysd systemctl list-units --all --no-legend "banger-*")" ] && ! sysd test -e /etc/systemd/system/banger-vmsvc.service'
check "no banger process is left" bash -c '! sysd pgrep -f "banger-(netsvc|vmsvc|imagesvc|workspacesvc|gateway)|qemu-system"'
check "the bridge is gone" bash -c '! ip link show banger0 >/dev/null 2>&1'
check "the nftables table is gone" bash -c '! nft list table inet banger >/dev/null 2>&1'
check "the data is kept (no --purge)" sysd test -e /var/lib/banger/images.db
finish
