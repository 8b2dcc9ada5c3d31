#!/bin/bash
# Golden-image builds by the installed banger-imagesvc unit, under its real
# sandbox (User=, NoNewPrivileges, SystemCallFilter, RestrictNamespaces, ...),
# with systemd as PID 1 of a throwaway container (tests/e2e/sysd_lib.sh). It
# shares this host's network to reach the Debian mirror, so only imagesvc and
# the gateway are started: no bridge, tap or nftables rule is made.
#   a package that does not exist: refused with mmdebstrap's reason and a log
#   that outlives the build, no image left → a real build: su setuid root
#   and /etc/shadow group shadow inside the image.
. "$(dirname "$0")/testlib.sh"

need_root "namespaces, systemd as PID 1 of a container"
need_tools mmdebstrap fakechroot fakeroot debugfs nsenter unshare setpriv useradd jq curl
[ -x /lib/systemd/systemd ] ||
        setup_fail "/lib/systemd/systemd is missing (package systemd; scripts/install-deps.sh installs it)"
need_mirror http://deb.debian.org/debian
. "$BANGER_SOURCE_DIR/tests/e2e/sysd_lib.sh"

SYSD_BINDS="$BANGER_BUILD_DIR $BANGER_SOURCE_DIR"
trap 'sysd_down' EXIT
check "systemd boots as PID 1 of a container" sysd_up
[ "$T_FAILS" -eq 0 ] || { finish; exit 1; }
sysd_owner bgowner

# The files of `system install`, then only the two units this needs.
out=$(sysd "$BANGER_BUILD_DIR/bin/banger" system install --root / --owner $OWNER 2>&1) && rc=0 || rc=$?
check "system install --root / (files only)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { echo "$out" | tail -5; finish; exit 1; }
sysd systemd-tmpfiles --create /etc/tmpfiles.d/banger.conf
sysd systemctl daemon-reload
check "banger-imagesvc and banger-gateway start" \
        sysd systemctl start banger-imagesvc.service banger-gateway.service
check "the gateway reaches imagesvc" wait_for 15 bash -c 'as_owner banger image list >/dev/null 2>&1'

rc=0; out=$(as_owner banger image build bad --packages no-such-package-banger 2>&1) || rc=$?
check "a package that does not exist: the build fails" [ "$rc" -ne 0 ]
check "saying why, from mmdebstrap's log" grep -q "no-such-package-banger" <<<"$out"
log=$(grep -o 'log: [^ );]*' <<<"$out" | head -1 | cut -d' ' -f2)
check "and the log it names outlives the build" bash -c '[ -n "$1" ] && sysd test -s "$1"' _ "$log"
check "no image and no temp dir are left" bash -c '
        [ "$(as_owner banger image list --json | jq length)" = 0 ] &&
        [ -z "$(sysd find /var/lib/banger/images -mindepth 1 -maxdepth 1)" ]'
check "imagesvc logged the failure" bash -c \
        'sysd journalctl -u banger-imagesvc --no-pager | grep -q "image bad: build failed"'
[ "$T_FAILS" -eq 0 ] || echo "$out" | tail -3

t0=$SECONDS
out=$(as_owner banger image build nnp --packages less 2>&1) && rc=0 || rc=$?
check "image build under the imagesvc unit's sandbox" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
echo "  build: $((SECONDS - t0)) s"
IMG=$(sysd_file /var/lib/banger/images/nnp/rootfs.ext4)
su_stat=$(debugfs -R "stat /usr/bin/su" "$IMG" 2>/dev/null | head -3)
check "/usr/bin/su is setuid root in the image" bash -c \
        'grep -Eq "Mode: +04755" <<<"$1" && grep -Eq "User: +0 +Group: +0" <<<"$1"' _ "$su_stat"
sh_stat=$(debugfs -R "stat /etc/shadow" "$IMG" 2>/dev/null | head -3)
check "/etc/shadow keeps group shadow (42) and mode 0640" bash -c \
        'grep -Eq "Mode: +0640" <<<"$1" && grep -Eq "Group: +42" <<<"$1"' _ "$sh_stat"
check "the image file is the owner's" [ "$(stat -c %u "$IMG" 2>/dev/null)" = "$(sysd id -u $OWNER)" ]
finish
