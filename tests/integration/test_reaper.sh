#!/usr/bin/env bash
# testlib.sh's reaper: a test killed with SIGKILL (what ctest does at a
# TIMEOUT) leaves no process started with its BANGER_HOME, no home directory
# and, as root, no network namespace it registered. A stand-in "daemon" that
# left the test's process tree (double fork, own session, like banger's
# services) must be killed by the reaper, not by the kill of the tree.
. "$(dirname "$0")/testlib.sh"

if [ "${1:-}" = victim ]; then
        out=$2
        new_home
        ( setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >"$BANGER_HOME/daemon.pid" )
        ns=
        if [ "$(id -u)" -eq 0 ]; then
                ns=bgtreap$$
                ip netns add "$ns" && reap_netns "$ns"
        fi
        printf '%s %s %s\n' "$BANGER_HOME" "$(cat "$BANGER_HOME/daemon.pid")" "$ns" >"$out.tmp"
        mv "$out.tmp" "$out"
        sleep 1000 >/dev/null 2>&1
        exit 0
fi

info=$(mktemp)
rm -f "$info"
bash "$0" victim "$info" &
victim=$!
wait_for 10 test -s "$info" || fail_stop "the victim did not start"
read -r home dpid ns <"$info"
rm -f "$info"
check "the stand-in daemon runs" kill -0 "$dpid"
# What ctest does at a TIMEOUT: SIGKILL to the test and its children.
kill -9 $(pgrep -P "$victim") "$victim"
wait "$victim" 2>/dev/null || true
gone() { ! kill -0 "$dpid" 2>/dev/null && [ ! -e "$home" ]; }
if wait_for 40 gone; then
        pass "after SIGKILL of the test: its daemon is killed and $home removed"
else
        fail "after SIGKILL of the test: daemon $(kill -0 "$dpid" 2>/dev/null && echo alive || echo gone), home $([ -e "$home" ] && echo left || echo removed)"
        kill -9 "$dpid" 2>/dev/null || true
        rm -rf "$home" "$home.netns"
fi
if [ -n "$ns" ]; then
        if wait_for 5 bash -c "! ip netns list | grep -qw $ns"; then
                pass "its network namespace $ns is deleted"
        else
                fail "network namespace $ns is left"
                ip netns del "$ns" 2>/dev/null || true
        fi
fi
check "no $home.netns left" test ! -e "$home.netns"
finish
