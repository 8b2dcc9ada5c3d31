#!/bin/bash
# The units `banger system install` renders pass `systemd-analyze verify`, and
# banger-netsvc's sandbox scores an exposure of at most 2.5 in
# `systemd-analyze security --offline=true`.
. "$(dirname "$0")/testlib.sh"
need_tools systemd-analyze jq

ROOT=$(mktemp -d /tmp/bgunits.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
OWNER=$(id -un)
out=$("$BANGER" system install --root "$ROOT" --owner "$OWNER" 2>&1) ||
        fail_stop "system install --root $ROOT --owner $OWNER: $out"
U=$ROOT/etc/systemd/system
# verify --root needs systemd's own units (sysinit.target, ...) in the root.
[ -d /usr/lib/systemd/system ] ||
        setup_fail "no /usr/lib/systemd/system (package systemd; scripts/install-deps.sh installs it)"
mkdir -p "$ROOT/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$ROOT/usr/lib/systemd/"

for u in "$U"/banger-*.service; do
        name=$(basename "$u")
        # --root: the ExecStart binaries are looked up under ROOT.
        out=$(systemd-analyze verify --root="$ROOT" "$u" 2>&1) && rc=0 || rc=$?
        out=$(grep "$name" <<<"$out" || true)
        check "$name: systemd-analyze verify exits 0" [ "$rc" -eq 0 ]
        check "$name: verify prints nothing about it" [ -z "$out" ]
        [ -n "$out" ] && echo "$out"
        check "$name: UMask=0077" grep -qx 'UMask=0077' "$u"
        check "$name: NoNewPrivileges" grep -qx 'NoNewPrivileges=yes' "$u"
        check "$name: ProtectSystem=strict" grep -qx 'ProtectSystem=strict' "$u"
done

# A broken unit must fail verify, or the checks above prove nothing: a binary
# that is not in the root, and a bad directive.
sed 's|^ExecStart=/usr/local/|ExecStart=/nonexistent/|' "$U/banger-gateway.service" \
        > "$U/broken-a.service"
systemd-analyze verify --root="$ROOT" "$U/broken-a.service" >/dev/null 2>&1 &&
        fail "verify accepted a unit whose binary is missing"
sed 's|^UMask=0077|UMask=banana|' "$U/banger-gateway.service" > "$U/broken-b.service"
out=$(systemd-analyze verify --root="$ROOT" "$U/broken-b.service" 2>&1) || true
check "verify reports a bad directive" grep -q "broken-b.service:.*Failed to parse" <<<"$out"
rm -f "$U"/broken-?.service

score() { # exposure of a unit file, e.g. 2.3
        systemd-analyze security --offline=true "$1" 2>/dev/null |
                sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'
}
s=$(score "$U/banger-netsvc.service")
echo "banger-netsvc exposure: $s"
check "netsvc exposure is a number" [ -n "$s" ]
check "netsvc exposure $s <= 2.5" awk -v s="$s" 'BEGIN { exit !(s <= 2.5) }'
for n in gateway imagesvc vmsvc workspacesvc; do
        echo "banger-$n exposure: $(score "$U/banger-$n.service")"
done
check "netsvc keeps only CAP_NET_ADMIN" \
        grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' "$U/banger-netsvc.service"
check "netsvc uses networkd's sandbox" bash -c \
        "grep -qx 'SystemCallFilter=@system-service' $U/banger-netsvc.service &&
         grep -qx 'RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6' $U/banger-netsvc.service &&
         grep -qx 'ProtectHome=yes' $U/banger-netsvc.service"
check "vmsvc keeps VMs across restarts (KillMode=process)" \
        grep -qx 'KillMode=process' "$U/banger-vmsvc.service"
# In system mode vmsvc writes the owner key, ssh config and known_hosts under
# /etc/banger/ssh (made by install, owned by the owner); ProtectSystem=strict
# makes it read-only unless the unit opens it, and vmsvc then cannot start.
check "vmsvc may write /etc/banger/ssh under ProtectSystem=strict" \
        grep -qx 'ReadWritePaths=/etc/banger/ssh' "$U/banger-vmsvc.service"
check "owner services have no capabilities" bash -c \
        "for n in gateway imagesvc vmsvc workspacesvc; do grep -qx 'CapabilityBoundingSet=' $U/banger-\$n.service || exit 1; done"

# Weakening the sandbox raises the score: the measurement is real.
sed -e '/^ProtectSystem=/d' -e '/^SystemCallFilter=/d' -e '/^CapabilityBoundingSet=/d' \
        "$U/banger-netsvc.service" > "$ROOT/weak.service"
w=$(score "$ROOT/weak.service")
check "a weakened netsvc unit scores worse ($w > $s)" awk -v w="$w" -v s="$s" 'BEGIN { exit !(w > s) }'
finish
