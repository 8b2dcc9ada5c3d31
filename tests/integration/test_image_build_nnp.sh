#!/bin/bash
# Golden-image builds as the owner under no_new_privs, the way the imagesvc
# systemd unit runs it (NoNewPrivileges= and the hardening implying it):
# unshare mode cannot work there (setuid newuidmap is powerless), so imagesvc
# must pick mmdebstrap's fakechroot mode, and say what to install when
# fakechroot is missing, without leaving anything behind.
. "$(dirname "$0")/testlib.sh"

need_root "runs the services as another user"
need_tools setpriv mmdebstrap debugfs fakechroot fakeroot curl
need_mirror http://deb.debian.org/debian

new_home
U=65534
chown "$U:$U" "$BANGER_HOME"
as_owner() { # the services' user, no_new_privs, nothing of root's
        setpriv --reuid=$U --regid=$U --clear-groups --no-new-privs \
                env HOME="$BANGER_HOME" BANGER_HOME="$BANGER_HOME" PATH="$OPATH" "$@"
}
start_imagesvc() {
        as_owner "$BIN/banger-imagesvc" --owner-uid $U >>"$BANGER_HOME/imagesvc.log" 2>&1 &
        wait_for 10 test -S "$RUN/imagesvc.sock"
        # The gateway (re)dials imagesvc with a backoff: wait until it has.
        wait_for 15 as_owner "$BANGER" image list >/dev/null
}
wait_for() { # wait_for SECONDS cmd...
        local end=$((SECONDS + $1)); shift
        until "$@" 2>/dev/null; do
                [ $SECONDS -lt $end ] || return 1
                sleep 0.1
        done
}

# A PATH with mmdebstrap's own needs but no fakechroot: refused up front.
NOFC="$BANGER_HOME/nofc"
mkdir -p "$NOFC"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
        for f in "$d"/*; do
                n=${f##*/}
                case $n in fakechroot | fakeroot | fakeroot-*) continue ;; esac
                [ -e "$NOFC/$n" ] || ln -s "$f" "$NOFC/$n"
        done
done
OPATH=$NOFC
as_owner "$BIN/banger-gateway" --owner-uid $U >"$BANGER_HOME/gateway.log" 2>&1 &
wait_for 10 test -S "$RUN/gateway.sock"
start_imagesvc
out=$(as_owner "$BANGER" image build nnp --packages less 2>&1) && rc=0 || rc=$?
check "without fakechroot: refused (exit 5)" [ "$rc" -eq 5 ]
check "and the error says what to install" grep -q "apt-get install fakechroot fakeroot" <<<"$out"
check "and no image is left" [ "$(as_owner "$BANGER" image list --json | jq length)" -eq 0 ]

# With fakechroot: the build works, and the image keeps root ownership and
# setuid bits that only a faked root could have recorded.
pid=$(svc_pid imagesvc)
kill "$pid"
wait_for 10 bash -c "! kill -0 $pid"
OPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
start_imagesvc
t0=$SECONDS
out=$(as_owner "$BANGER" image build nnp --packages less 2>&1) && rc=0 || rc=$?
check "image build as uid $U under no_new_privs" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -5
echo "  build: $((SECONDS - t0)) s"
IMG=$(find "$BANGER_HOME/state/images" -name rootfs.ext4 | head -1)
check "the image file is the owner's" [ "$(stat -c %u "$IMG" 2>/dev/null)" = $U ]
su_stat=$(debugfs -R "stat /usr/bin/su" "$IMG" 2>/dev/null | head -3)
check "/usr/bin/su is setuid root in the image" \
        grep -Eq "Mode: +04755.*" <<<"$su_stat"
check "/usr/bin/su is owned by uid 0" grep -Eq "User: +0 +Group: +0" <<<"$su_stat"
sh_stat=$(debugfs -R "stat /etc/shadow" "$IMG" 2>/dev/null | head -3)
check "/etc/shadow keeps group shadow (42) and mode 0640" \
        bash -c 'grep -Eq "Mode: +0640" <<<"$1" && grep -Eq "Group: +42" <<<"$1"' _ "$sh_stat"
check "the agent is in the image" bash -c \
        "debugfs -R 'stat /usr/sbin/banger-agent' '$IMG' 2>/dev/null | grep -q 'Mode: *0755'"
check "imagesvc chose fakechroot mode" bash -c \
        'cat "$1"/state/logs/imagesvc.log "$1"/imagesvc.log 2>/dev/null | grep -q -- "--mode=fakechroot"' \
        _ "$BANGER_HOME"
finish
