#!/usr/bin/env bash
# Issue #19, attacks 1 and 2, made the way the owner would make them, against
# a real system install: systemd as PID 1 of a throwaway container
# (tests/e2e/sysd_lib.sh), `banger system install --owner`, netsvc under its
# unit. The owner is trusted with banger, not with root:
#   1. the owner connects to netsvc's socket and hangs up before the
#      handshake until netsvc's listener guard binds the socket again, and
#      swaps a symlink to a root-only file into the socket's path at that
#      moment (attack_sock_swap): root must neither chmod nor chown that
#      file, and netsvc must serve again afterwards (where the socket was the
#      owner's, 0600, root without CAP_DAC_OVERRIDE could not even probe it,
#      so the guard never re-bound: the owner's hang-up stopped netsvc for
#      good);
#   2. while netsvc is down, the owner plants symlinks to a root-only file at
#      every name netsvc ever wrote in the owner's directories (its pidfile's
#      temporary names netsvc.pid.tmp.<pid>, the pidfile, its lock, net.db
#      and its -wal, -shm and -journal): netsvc must start, serve and write
#      its database without writing through any of them (where those names
#      were in the owner's directories, the lock or SQLite's O_NOFOLLOW
#      files stopped netsvc from starting, and the owner could hand it a
#      database of their own).
# And what the fix promises: netsvc's files are root's, in directories only
# root can write; the owner reaches the socket through the group; doctor's
# system.sockets passes; a net.db an older banger left in /var/lib/banger is
# moved (leases kept) only when it is root's, and re-install removes it.
#
# Usage: test_root_paths.sh ATTACK_SOCK_SWAP NETSVC_CALL
# (to run the attacks against another build, point BANGER_BUILD_DIR at it)
. "$(dirname "$0")/../integration/testlib.sh"
ATTACK=${1:?usage: test_root_paths.sh ATTACK_SOCK_SWAP NETSVC_CALL}
CALLT=${2:?usage: test_root_paths.sh ATTACK_SOCK_SWAP NETSVC_CALL}
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, systemd as PID 1 of a container)"
for t in ip nsenter unshare setpriv useradd jq sha256sum; do
        command -v $t >/dev/null || skip "$t is not installed"
done
[ -x /lib/systemd/systemd ] || skip "systemd is not installed (apt-get install systemd)"
isolate_network "$@"
. "$(dirname "$0")/../e2e/sysd_lib.sh"

SYSD_BINDS="$BANGER_BUILD_DIR $BANGER_SOURCE_DIR $(dirname "$ATTACK") $(dirname "$CALLT")"
trap 'sysd_down' EXIT
check "systemd boots as PID 1 of a container" sysd_up
[ "$T_FAILS" -eq 0 ] || { finish; exit 1; }
sysd_owner bgowner

out=$(sysd "$BANGER_BUILD_DIR/bin/banger" system install --owner $OWNER 2>&1) && rc=0 || rc=$?
check "system install --owner $OWNER" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { echo "$out" | tail -5; finish; exit 1; }

netsvc_sock() { sysd find /run -name netsvc.sock -type s 2>/dev/null | head -1; }
call() { sysd "$CALLT" "ipc://$SOCK" "$@"; }
export -f call netsvc_sock
export CALLT
SOCK=$(netsvc_sock)
export SOCK
check "netsvc's socket exists ($SOCK)" [ -n "$SOCK" ]
check "the owner reaches netsvc's socket" as_owner "$CALLT" "ipc://$SOCK" health
start_netsvc() { # as root, like a boot or an upgrade would
        sysd systemctl start banger-netsvc || true
        wait_for 15 bash -c '[ -n "$(netsvc_sock)" ]' || true
        SOCK=$(netsvc_sock)
        wait_for 15 call health >/dev/null 2>&1 || true
}

# ---- what netsvc keeps where -------------------------------------------
check "netsvc's directories are root's, writable by root alone" bash -c \
        '[ "$(sysd stat -c "%U %a" /run/banger-netsvc /var/lib/banger-netsvc | sort -u)" = "root 755" ]'
check "its socket is root's, group $OWNER, mode 0660" \
        [ "$(sysd stat -c '%U %G %a' "$SOCK")" = "root $OWNER 660" ]
check "its pidfile, lock and net.db are in them" bash -c \
        'sysd test -f /run/banger-netsvc/netsvc.pid && sysd test -f /run/banger-netsvc/netsvc.lock &&
         sysd test -f /var/lib/banger-netsvc/net.db'
check "nothing of root's in the owner's directories" \
        [ -z "$(sysd find /run/banger /var/lib/banger /var/cache/banger -user root)" ]
doc=$(as_owner banger doctor --json 2>/dev/null) || true
check "doctor as the owner: system.sockets PASS" \
        [ "$(jq -r '.rows[] | select(.id == "system.sockets") | .status' <<<"$doc")" = PASS ]

# ---- attack 1: a symlink swapped in while the listener is re-bound -------
sysd sh -c 'printf root-only > /etc/bg-victim1 && chmod 0644 /etc/bg-victim1'
# Whether a hang-up stalls nng's listener is a race: a round may see no
# re-bind at all; up to three rounds of 15 s, until one does.
for round in 1 2 3; do
        t0=$(date +%s)
        out=$(as_owner "$ATTACK" "$SOCK" /etc/bg-victim1 15 2>&1) || true
        echo "  attack 1, round $round: $out ($(($(date +%s) - t0)) s)"
        grep -q "re-bound [1-9]\|victim changed" <<<"$out" && break
        SOCK=$(netsvc_sock)
done
check "attack 1 made netsvc bind its socket again" grep -q "re-bound [1-9]" <<<"$out"
check "attack 1: the root-only file keeps its owner and mode" \
        [ "$(sysd stat -c '%u %g %a' /etc/bg-victim1)" = "0 0 644" ]
SOCK=$(netsvc_sock)
check "netsvc still serves the owner after attack 1" \
        wait_for 10 as_owner "$CALLT" "ipc://$SOCK" health

# ---- attack 2: symlinks planted before netsvc starts ---------------------
sysd sh -c 'printf "root-only data" > /etc/bg-victim2 && chmod 0600 /etc/bg-victim2'
v2=$(sysd sha256sum /etc/bg-victim2)
sysd systemctl stop banger-netsvc || true
last=$(sysd sh -c 'cut -d" " -f5 /proc/loadavg | cut -d/ -f2') || last=1
planted=$(as_owner python3 - "$last" <<'PY' || echo 0
import os, sys
last = int(sys.argv[1])
names = ["netsvc.pid", "netsvc.lock", "netsvc.sock", "net.db", "net.db-wal", "net.db-shm",
         "net.db-journal", "netsvc.log"]
names += ["netsvc.pid.tmp.%d" % p for p in range(last + 1, last + 3001)]
n = 0
for d in ["/run/banger", "/var/lib/banger", "/var/lib/banger/logs", "/run/banger-netsvc",
          "/var/lib/banger-netsvc"]:
    for name in names:
        path = os.path.join(d, name)
        try:
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink("/etc/bg-victim2", path)
            n += 1
        except OSError:
            pass
print(n)
PY
)
echo "  attack 2: $planted symlinks planted"
check "the owner could plant symlinks where it can write" [ "$planted" -gt 0 ]
start_netsvc
check "netsvc starts and serves despite them" call health
check "netsvc writes its database (Lease)" call lease sec1-probe
check "attack 2: the root-only file is unchanged" \
        bash -c '[ "$(sysd sha256sum /etc/bg-victim2)" = "$1" ] &&
                 [ "$(sysd stat -c "%u %g %a" /etc/bg-victim2)" = "0 0 600" ]' _ "$v2"
as_owner find /run/banger /var/lib/banger -lname /etc/bg-victim2 -delete 2>/dev/null || true

# ---- an older banger's net.db in /var/lib/banger --------------------------
# One the owner forged is not taken; root's own is moved, its leases kept;
# the next install removes what is left.
sysd systemctl stop banger-netsvc || true
sysd sh -c 'mv /var/lib/banger-netsvc/net.db /run/net.db.real &&
        rm -f /var/lib/banger-netsvc/net.db-* &&
        cp /run/net.db.real /var/lib/banger/net.db && chown bgowner: /var/lib/banger/net.db' || true
start_netsvc
check "a net.db of the owner's in /var/lib/banger is not taken" \
        bash -c 'call health >/dev/null && ! call leases | grep -q "^sec1-probe "'
sysd systemctl stop banger-netsvc || true
sysd sh -c 'mv /run/net.db.real /var/lib/banger/net.db && chown root:root /var/lib/banger/net.db &&
        rm -f /var/lib/banger-netsvc/net.db /var/lib/banger-netsvc/net.db-*' || true
start_netsvc
check "root's old net.db is moved, with its leases" bash -c 'call leases | grep -q "^sec1-probe "'
out=$(sysd "$BANGER_BUILD_DIR/bin/banger" system install --owner $OWNER 2>&1) && rc=0 || rc=$?
check "re-install (an upgrade) succeeds" [ "$rc" -eq 0 ]
check "and removes the old net.db" bash -c '! sysd test -e /var/lib/banger/net.db'
SOCK=$(netsvc_sock)
check "the moved leases survive the upgrade" bash -c 'call leases | grep -q "^sec1-probe "'

finish
