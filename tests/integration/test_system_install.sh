#!/bin/bash
# `banger system install --root DIR` writes exactly the files install.toml
# lists, `uninstall` removes exactly those, --purge the data too; live mode
# refuses without root or without systemd as PID 1.
. "$(dirname "$0")/testlib.sh"

ROOT=$(mktemp -d /tmp/bgsys.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
OWNER=$(id -un)
UID_=$(id -u)

# The regular files under ROOT, as absolute paths of the target system.
files_under() { (cd "$ROOT" && find . -type f -o -type l | sed 's|^\.||' | sort); }
listed() { # the files array of ROOT/etc/banger/install.toml
        sed -n '/^files = \[/,/^\]/p' "$ROOT/etc/banger/install.toml" |
                sed -n 's/^  "\(.*\)",$/\1/p' | sort
}

out=$("$BANGER" system install --root "$ROOT" --owner "$OWNER" 2>&1) ||
        fail_stop "system install --root $ROOT --owner $OWNER: $out"
check "install lists install.toml itself" grep -qx /etc/banger/install.toml <(listed)
check "install wrote exactly the files it lists" diff <(files_under) <(listed)
GF="$BANGER_BUILD_DIR/share/banger/guest-files"
NGF=$(cd "$GF" && find . -type f -o -type l | wc -l)
NFILES=$((14 + NGF))
check "$NFILES files: 6 binaries, the agent, 5 units, tmpfiles, install.toml, $NGF guest files" \
        [ "$(listed | wc -l)" -eq "$NFILES" ]
for b in banger libexec/banger/banger-gateway libexec/banger/banger-netsvc \
        libexec/banger/banger-vmsvc libexec/banger/banger-imagesvc \
        libexec/banger/banger-workspacesvc libexec/banger/banger-agent; do
        p=$ROOT/usr/local/$b
        [ "$b" = banger ] && p=$ROOT/usr/local/bin/banger
        check "$b installed executable" test -x "$p"
done
check "installed banger runs" "$ROOT/usr/local/bin/banger" --version
# imagesvc finds these beside itself: PREFIX/libexec/banger/banger-agent and
# PREFIX/share/banger/guest-files, the tree as built (symlinks kept).
IGF=$ROOT/usr/local/share/banger/guest-files
check "guest files tree installed as built" diff -r --no-dereference "$GF" "$IGF"
check "guest files keep their symlinks" \
        test -L "$IGF/etc/systemd/system/multi-user.target.wants/banger-agent.service"
check "installed agent is the built one" cmp "$BANGER_BUILD_DIR/guest/agent/banger-agent" \
        "$ROOT/usr/local/libexec/banger/banger-agent"
U=$ROOT/etc/systemd/system
check "netsvc unit points at the installed binary" \
        grep -qx "ExecStart=/usr/local/libexec/banger/banger-netsvc --system --owner-uid $UID_" \
        "$U/banger-netsvc.service"
check "owner units run as the owner" grep -qx "User=$OWNER" "$U/banger-vmsvc.service"
check "no placeholder left" bash -c "! grep -l '@[A-Z_]*@' $U/*.service $ROOT/etc/tmpfiles.d/banger.conf"
check "tmpfiles snippet names the owner" grep -q "^d /run/banger 0770 $OWNER " \
        "$ROOT/etc/tmpfiles.d/banger.conf"
check "install.toml records owner and uid" \
        grep -qx "owner_uid = $UID_" "$ROOT/etc/banger/install.toml"
for d in var/lib/banger:770 var/lib/banger/logs:700 var/cache/banger:700 run/banger:770 \
        etc/banger/ssh:700; do
        st=$(stat -c '%u %a' "$ROOT/${d%%:*}")
        check "/${d%%:*} owned by the owner, mode ${d##*:}" [ "$st" = "$UID_ ${d##*:}" ]
done
# netsvc's: root's (a staging tree made without root keeps the installer's uid)
check "/var/lib/banger-netsvc owned by root, mode 0755" \
        [ "$(stat -c '%u %a' "$ROOT/var/lib/banger-netsvc")" = "$(id -u) 755" ]
# Install hands directories over by descriptors: a symlink the owner put in
# place of one (run again as root, an upgrade would chmod and chown its
# target) is refused and its target left as it was.
mkdir -m 0755 "$ROOT.victim"
mv "$ROOT/var/lib/banger/logs" "$ROOT/var/lib/banger/logs.real"
ln -s "$ROOT.victim" "$ROOT/var/lib/banger/logs"
out=$("$BANGER" system install --root "$ROOT" --owner "$OWNER" 2>&1) && rc=0 || rc=$?
check "re-install refuses /var/lib/banger/logs turned into a symlink" \
        bash -c '[ "$1" -ne 0 ] && grep -q "logs.*not a directory (a symlink?)" <<<"$2"' _ "$rc" "$out"
check "  and leaves the symlink's target alone (mode 0755, not 0700)" \
        [ "$(stat -c '%a' "$ROOT.victim")" = 755 ]
rm "$ROOT/var/lib/banger/logs"
mv "$ROOT/var/lib/banger/logs.real" "$ROOT/var/lib/banger/logs"
rmdir "$ROOT.victim"
check "re-install works again" "$BANGER" system install --root "$ROOT" --owner "$OWNER"

json=$("$BANGER" system status --root "$ROOT" --json) && rc=0 || rc=$?
check "status --json: installed, owner, $NFILES files" \
        jq -e --arg o "$OWNER" --argjson n "$NFILES" '.installed and .owner == $o
                and (.files | length) == $n and (.units | length) == 5' <<<"$json"
"$BANGER" system status --root "$ROOT" >/dev/null && rc=0 || rc=$?
check "status exits 7 when the units' state is unknown" [ "$rc" -eq 7 ]

# doctor --root checks the staged install: units as rendered, sockets.
drow() { jq -r --arg id "$1" '.rows[] | select(.id == $id) | .status' <<<"$D"; }
dmsg() { jq -r --arg id "$1" '.rows[] | select(.id == $id) | .message' <<<"$D"; }
D=$("$BANGER" doctor --root "$ROOT" --json) || true
check "doctor --root: system mode" [ "$(jq -r .mode <<<"$D")" = system ]
check "doctor --root: system.install PASS" [ "$(drow system.install)" = PASS ]
check "doctor --root: system.units PASS" [ "$(drow system.units)" = PASS ]
check "doctor --root: system.sockets WARN (nothing running)" [ "$(drow system.sockets)" = WARN ]
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
        "$ROOT/run/banger/gateway.sock"
chmod 0666 "$ROOT/run/banger/gateway.sock"
D=$("$BANGER" doctor --root "$ROOT" --json) && rc=0 || rc=$?
check "doctor --root: a 0666 socket FAILs" [ "$(drow system.sockets)" = FAIL ]
check "and names its mode" grep -q "gateway.sock has mode 0666" <<<"$(dmsg system.sockets)"
check "and doctor exits 5" [ "$rc" -eq 5 ]
rm -f "$ROOT/run/banger/gateway.sock"
cp "$U/banger-netsvc.service" "$ROOT.unit"
sed -i '/^ProtectHome=yes$/d' "$U/banger-netsvc.service"
D=$("$BANGER" doctor --root "$ROOT" --json) || true
check "doctor --root: removed hardening FAILs system.units" [ "$(drow system.units)" = FAIL ]
check "and names the line" grep -q "lacks 'ProtectHome=yes'" <<<"$(dmsg system.units)"
cp "$ROOT.unit" "$U/banger-netsvc.service"
echo "Environment=X=1" >> "$U/banger-netsvc.service"
D=$("$BANGER" doctor --root "$ROOT" --json) || true
check "doctor --root: an added line WARNs" [ "$(drow system.units)" = WARN ]
cp "$ROOT.unit" "$U/banger-netsvc.service"
rm -f "$ROOT.unit"
check "the restored unit is listed, unchanged" diff <(files_under) <(listed)

# Re-install elsewhere: the old binaries go, the list is exact again.
echo "vm disk" > "$ROOT/var/lib/banger/keep.me"
check "re-install with --prefix /opt/banger" \
        "$BANGER" system install --root "$ROOT" --owner "$OWNER" --prefix /opt/banger
check "old binaries removed" test ! -e "$ROOT/usr/local/bin/banger"
check "re-install lists exactly what is there (plus the data)" \
        diff <(files_under | grep -v '^/var/lib/banger/keep.me$') <(listed)
check "units follow the prefix" grep -q "ExecStart=/opt/banger/libexec/banger/banger-vmsvc" \
        "$U/banger-vmsvc.service"

# Uninstall: exactly the listed files; data kept.
cp "$ROOT/etc/banger/install.toml" "$ROOT.list"
out=$("$BANGER" system uninstall --root "$ROOT" 2>&1) && rc=0 || rc=$?
check "uninstall succeeds" [ "$rc" -eq 0 ]
check "uninstall reports kept data" grep -q "kept $ROOT/var/lib/banger" <<<"$out"
check "only the data is left" [ "$(files_under)" = "/var/lib/banger/keep.me" ]
check "empty libexec dir removed" test ! -e "$ROOT/opt/banger/libexec/banger"
check "empty share/banger tree removed" test ! -e "$ROOT/opt/banger/share/banger"
check "/etc/banger removed when empty" test ! -e "$ROOT/etc/banger"
rm -f "$ROOT.list"
"$BANGER" system uninstall --root "$ROOT" >/dev/null 2>&1 && rc=0 || rc=$?
check "uninstall of nothing exits 3" [ "$rc" -eq 3 ]

# --purge takes the data and the config too.
"$BANGER" system install --root "$ROOT" --owner "$OWNER" >/dev/null
echo 'log_level = "debug"' > "$ROOT/etc/banger/config.toml"
check "uninstall --purge" "$BANGER" system uninstall --root "$ROOT" --purge
check "--purge leaves no file" [ -z "$(files_under)" ]
for d in var/lib/banger var/cache/banger run/banger etc/banger var/lib/banger-netsvc; do
        check "--purge removed /$d" test ! -e "$ROOT/$d"
done

# Bad input.
"$BANGER" system install --root "$ROOT" --owner 'no such user' >/dev/null 2>&1 &&
        fail "install accepted an unsafe owner name"
"$BANGER" system install --root "$ROOT" --owner banger-no-such-user-x >/dev/null 2>&1 &&
        fail "install accepted an unknown owner"
"$BANGER" system install --root relative --owner "$OWNER" >/dev/null 2>&1 &&
        fail "install accepted a relative --root"
check "failed installs wrote nothing" [ -z "$(files_under)" ]

# Live mode refuses clearly where it cannot work.
if [ "$(id -u)" -ne 0 ]; then
        out=$("$BANGER" system install --owner "$OWNER" 2>&1) && rc=0 || rc=$?
        check "live install as non-root exits 6" [ "$rc" -eq 6 ]
        check "and says to use root" grep -q "run it as root" <<<"$out"
elif [ ! -d /run/systemd/system ]; then
        had=$(test -e /etc/banger/install.toml && echo yes || echo no)
        out=$("$BANGER" system install --owner "$OWNER" 2>&1) && rc=0 || rc=$?
        check "live install without systemd exits 5" [ "$rc" -eq 5 ]
        check "and names systemd as PID 1" grep -q "systemd is not running as PID 1" <<<"$out"
        [ "$had" = no ] && check "and wrote nothing" test ! -e /etc/banger/install.toml
        out=$("$BANGER" system restart 2>&1) && rc=0 || rc=$?
        check "live restart without systemd exits 5" [ "$rc" -eq 5 ]
        out=$("$BANGER" system uninstall 2>&1) && rc=0 || rc=$?
        check "live uninstall without systemd exits 5" [ "$rc" -eq 5 ]
else
        echo "note: systemd is PID 1 here; the live refusal is not exercised"
fi
finish
