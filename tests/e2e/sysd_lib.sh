# A throwaway machine with systemd as PID 1, for tests of system mode on a
# host whose init is not systemd (CI, containers). sysd_up boots
# /lib/systemd/systemd as PID 1 of new mount, pid, uts, ipc and cgroup
# namespaces; it keeps the caller's network namespace, so run it inside one.
# Its root is an overlay on the host's /: every write lands in SYSD_DIR/up and
# is gone with sysd_down. /proc/sys and /sys are read-only (the host's sysctls
# stay untouched), cgroup2 is a private subtree. Paths named in SYSD_BINDS
# (absolute, space-separated) are bind-mounted at the same place, so a build
# tree under the host's /tmp is still seen; /dev gets null, zero, full,
# random, urandom and tty from the host, and nodes of its own for net/tun and
# kvm (the host's numbers and modes, when the host has them).
#
#   sysd_up            → SYSD_PID (the container's PID 1, seen from here)
#   sysd CMD...        → runs CMD inside (every namespace, a clean env)
#   sysd_file PATH     → PATH inside, as a path usable from here
#   sysd_owner NAME    → a user inside (OWNER=NAME); as_owner CMD... runs as it
#   sysd_down          → stops it, removes every trace

sysd_up() {
        SYSD_DIR=$(mktemp -d /tmp/bgsd.XXXXXX)
        SYSD_CG=bgsd-${SYSD_DIR##*.}
        mkdir -p "$SYSD_DIR/up" "$SYSD_DIR/work" "$SYSD_DIR/root" "$SYSD_DIR/cg"
        : >"$SYSD_DIR/console.log"
        cat >"$SYSD_DIR/inner.sh" <<'INNER'
#!/bin/bash
# PID 1 of the new namespaces until it execs systemd.
set -eu
B=$1; R=$B/root; shift
mount -t overlay bgsd -o lowerdir=/,upperdir=$B/up,workdir=$B/work "$R"
mount -t proc proc "$R/proc"
for p in sys sysrq-trigger; do
        [ -e "$R/proc/$p" ] || continue
        mount --bind "$R/proc/$p" "$R/proc/$p"
        mount -o remount,bind,ro "$R/proc/$p"
done
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=755,size=64m dev "$R/dev"
for n in null zero full random urandom tty; do
        touch "$R/dev/$n"
        mount --bind "/dev/$n" "$R/dev/$n"
done
# Nodes of its own, with the host's numbers and modes: a test may chmod them.
for n in net/tun kvm; do
        [ -c "/dev/$n" ] || continue
        mkdir -p "$(dirname "$R/dev/$n")"
        read -r maj min mode grp < <(stat -c '%t %T %a %g' "/dev/$n")
        mknod -m "$mode" "$R/dev/$n" c $((16#$maj)) $((16#$min))
        chgrp "$grp" "$R/dev/$n"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
touch "$R/dev/console"
mount --bind "$B/console.log" "$R/dev/console"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
mount -t tmpfs -o mode=755 run "$R/run"
mount -t tmpfs -o mode=1777 tmp "$R/tmp"
# After /tmp and /run: a bind under them must not be hidden.
for p in "$@"; do
        [ -e "$p" ] || continue
        mkdir -p "$R$p"
        mount --rbind "$p" "$R$p"
done
# A machine of its own: no leftovers of the host's banger, a fresh machine-id.
rm -rf "$R/etc/banger" "$R/var/lib/banger" "$R/var/cache/banger" \
        "$R/etc/systemd/system/banger-"* "$R/etc/tmpfiles.d/banger.conf"
: >"$R/etc/machine-id"
cd "$R"
mkdir -p oldroot
pivot_root . oldroot
cd /
umount -l /oldroot
rmdir /oldroot
# basic.target: nothing of the host's own services. Units that need what a
# container lacks are masked (systemd reads these from its argv here).
exec env -i container=bgsd TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        /lib/systemd/systemd --unit=basic.target --show-status=no \
        systemd.mask=systemd-modules-load.service systemd.mask=timers.target \
        systemd.mask=systemd-networkd.service systemd.mask=systemd-resolved.service
INNER
        chmod +x "$SYSD_DIR/inner.sh"
        # The launcher enters a cgroup2 subtree of its own first, so the new
        # cgroup namespace is rooted there.
        setsid unshare --mount --propagation private bash -c '
                d=$1; cg=$2; shift 2
                mount -t cgroup2 cgroup2 "$d/cg"
                mkdir -p "$d/cg/$cg"
                echo $$ >"$d/cg/$cg/cgroup.procs"
                umount "$d/cg"
                echo $$ >"$d/launcher.pid"
                exec unshare --mount --pid --uts --ipc --cgroup --fork \
                        --propagation private "$d/inner.sh" "$d" "$@"' \
                _ "$SYSD_DIR" "$SYSD_CG" ${SYSD_BINDS:-} \
                </dev/null >"$SYSD_DIR/launcher.log" 2>&1 &
        local i c s="" myns launcher=""
        myns=$(readlink /proc/self/ns/pid)
        SYSD_PID=
        for i in $(seq 200); do
                # The container's init: the launcher's child in another pid ns.
                [ -n "$launcher" ] || launcher=$(cat "$SYSD_DIR/launcher.pid" 2>/dev/null || true)
                for c in $( [ -z "$launcher" ] || pgrep -P "$launcher"); do
                        [ "$(readlink "/proc/$c/ns/pid" 2>/dev/null)" != "$myns" ] &&
                                SYSD_PID=$c
                done
                [ -n "$SYSD_PID" ] && break
                sleep 0.05
        done
        [ -n "$SYSD_PID" ] || { cat "$SYSD_DIR/launcher.log"; return 1; }
        for i in $(seq 300); do
                kill -0 "$SYSD_PID" 2>/dev/null || { cat "$SYSD_DIR/launcher.log"; return 1; }
                s=$(sysd systemctl is-system-running 2>/dev/null || true)
                case $s in running | degraded) return 0 ;; esac
                sleep 0.1
        done
        echo "systemd did not finish booting (state: $s)"
        return 1
}

sysd() {
        nsenter -t "$SYSD_PID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                HOME=/root TERM=dumb "$@"
}

sysd_file() { echo "/proc/$SYSD_PID/root$1"; }

# A user inside the container to own banger, and as_owner to run as them;
# both functions are exported for `bash -c` checks.
sysd_owner() {
        OWNER=$1
        sysd useradd -m -s /bin/bash "$OWNER"
        export -f sysd as_owner
        export SYSD_PID OWNER
}
as_owner() {
        sysd setpriv --reuid="$OWNER" --regid="$OWNER" --init-groups \
                env HOME="/home/$OWNER" USER="$OWNER" LOGNAME="$OWNER" "$@"
}

sysd_down() {
        [ -n "${SYSD_DIR:-}" ] || return 0
        local i
        if [ -n "${SYSD_PID:-}" ] && kill -0 "$SYSD_PID" 2>/dev/null; then
                kill -s SIGRTMIN+4 "$SYSD_PID" # poweroff, for a containerised systemd
                for i in $(seq 100); do
                        kill -0 "$SYSD_PID" 2>/dev/null || break
                        sleep 0.1
                done
                # SIGKILL of a pid namespace's init kills everything in it.
                kill -9 "$SYSD_PID" 2>/dev/null || true
                for i in $(seq 50); do
                        kill -0 "$SYSD_PID" 2>/dev/null || break
                        sleep 0.1
                done
        fi
        unshare --mount --propagation private bash -c '
                mount -t cgroup2 cgroup2 "$1/cg" || exit 0
                find "$1/cg/$2" -depth -type d -exec rmdir {} \; 2>/dev/null
                umount "$1/cg"' _ "$SYSD_DIR" "$SYSD_CG" || true
        rm -rf "$SYSD_DIR"
        SYSD_DIR= SYSD_PID=
}
