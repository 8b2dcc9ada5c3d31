#!/usr/bin/env bash
# Root scenario for lib/hostnet, entirely inside fresh network namespaces
# (the host's own network is never touched):
#
#   g1 (172.30.0.2) ─┐                       ┌ inet: 10.99.0.2, 203.0.113.10,
#   g2 (172.30.0.3) ─┴ bridge banger0 ─ host ─ up0 ┤   169.254.169.254, :80
#     (veth pairs play the guests' taps)      (10.99.0.1)
#
# Checks: NAT to the "internet" (real TCP, source rewritten to the uplink
# address), 169.254.169.254 and non-DNS host ports unreachable from guests,
# the .vm DNS server reachable from a guest over UDP and TCP (dig), A /
# NXDOMAIN+AA / REFUSED, junk packets survived, isolate_vms, and that
# teardown removes only `table inet banger`.
#
# Usage: hostnet_nat.sh /path/to/hostnet_tool
set -uo pipefail

TOOL=${1:?usage: hostnet_nat.sh HOSTNET_TOOL}
. "$(dirname "$0")/../skiplib.sh" # skip, setup_fail, need_*
need_root "network namespaces, nftables"
need_tools ip nft dig
need_built "$TOOL"

P="hn$$"
H="$P-host" I="$P-inet" G1="$P-g1" G2="$P-g2"
PIDS=()
ip netns add "$H" || setup_fail "ip netns add $H failed"

cleanup() {
        for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
        for ns in "$H" "$I" "$G1" "$G2"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT

FAILS=0
pass() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
inh() { ip netns exec "$H" "$@"; }
ing() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# reach NS IP PORT: prints the listener's "peer <ip>" line, fails on timeout.
reach() { ip netns exec "$1" "$TOOL" connect "$2" "$3" 800 2>/dev/null; }
expect_reach() { # NS IP PORT [expected peer] DESCRIPTION
        local out; out=$(reach "$1" "$2" "$3")
        if [ -z "$out" ]; then bad "$5: no connection"; return; fi
        if [ -n "$4" ] && [ "$out" != "peer $4" ]; then bad "$5: got '$out', want 'peer $4'"; return; fi
        pass "$5"
}
expect_blocked() { # NS IP PORT DESCRIPTION
        if reach "$1" "$2" "$3" >/dev/null; then bad "$4: connection went through"; else pass "$4"; fi
}
daemon() { # NS ARGS... : starts a daemonized tool server, records its pid
        local ns=$1; shift
        local pid; pid=$(ip netns exec "$ns" "$TOOL" "$@") || { echo "cannot start $*"; exit 1; }
        PIDS+=("$pid")
        echo "$pid"
}

set -e
for ns in "$I" "$G1" "$G2"; do ip netns add "$ns"; done
for ns in "$H" "$I" "$G1" "$G2"; do ing "$ns" ip link set lo up; done

# Uplink: host up0 <-> inet eth0.
ip link add up0 netns "$H" type veth peer name eth0 netns "$I"
inh ip addr add 10.99.0.1/24 dev up0
inh ip link set up0 up
inh ip route add default via 10.99.0.2
ing "$I" ip addr add 10.99.0.2/24 dev eth0
ing "$I" ip link set eth0 up
ing "$I" ip addr add 203.0.113.10/32 dev lo
ing "$I" ip addr add 169.254.169.254/32 dev lo
# A route back to the guests, so that reachability without NAT (the positive
# controls below) works and masquerading is visible in the peer address.
ing "$I" ip route add 172.30.0.0/24 via 10.99.0.1

# Bridge through the library; a host-side dummy table that must survive.
inh "$TOOL" bridge-ensure banger0 172.30.0.1/24
inh "$TOOL" bridge-ensure banger0 172.30.0.1/24 # idempotent
inh "$TOOL" forward-on
inh nft add table inet other
inh nft add chain inet other keepme

# Guests: veth pairs whose host ends (bg-named, like taps) join the bridge.
n=1
for g in "$G1" "$G2"; do
        ip link add "bgv$n" netns "$H" type veth peer name eth0 netns "$g"
        inh ip link set "bgv$n" master banger0 up
        ing "$g" ip addr add "172.30.0.$((n + 1))/24" dev eth0
        ing "$g" ip link set eth0 up
        ing "$g" ip route add default via 172.30.0.1
        n=$((n + 1))
done
set +e

daemon "$I" listen 0.0.0.0 80 >/dev/null
daemon "$H" listen 0.0.0.0 8080 >/dev/null
daemon "$G2" listen 0.0.0.0 7000 >/dev/null
DNS_PID=$(daemon "$H" dns-serve 172.30.0.1 42069 web=172.30.0.2 db=172.30.0.3)
PIDS+=("$DNS_PID") # daemon ran in a subshell: record the pid here

up=$(inh "$TOOL" uplink)
[ "$up" = "up0" ] && pass "default uplink is up0" || bad "default uplink: got '$up'"
ov=$(inh "$TOOL" overlap 10.99.0.0/16 banger0)
[ "$ov" = "10.99.0.0/24 dev up0" ] && pass "overlap names the route" || bad "overlap: got '$ov'"
ov=$(inh "$TOOL" overlap 172.30.0.0/24 banger0)
[ "$ov" = "none" ] && pass "bridge's own route ignored" || bad "overlap on bridge: got '$ov'"

echo "# before nftables: positive controls"
expect_reach "$G1" 203.0.113.10 80 172.30.0.2 "guest reaches internet (routed, no NAT)"
expect_reach "$G1" 169.254.169.254 80 "" "guest reaches 169.254.169.254 without rules"
expect_reach "$G1" 172.30.0.1 8080 "" "guest reaches host port 8080 without rules"
expect_reach "$G1" 10.99.0.1 8080 "" "guest reaches host's uplink address without rules"
expect_reach "$G1" 172.30.0.3 7000 "" "guest reaches guest without rules"

echo "# nftables applied (uplink up0, DNS 42069)"
inh "$TOOL" nft-apply banger0 172.30.0.0/24 up0 42069 0 || bad "nft-apply"
inh "$TOOL" nft-apply banger0 172.30.0.0/24 up0 42069 0 || bad "nft-apply (again)"
[ "$(inh "$TOOL" nft-present banger0 172.30.0.0/24 up0 42069 0)" = yes ] &&
        pass "nft-present matches" || bad "nft-present after apply"
[ "$(inh "$TOOL" nft-present banger0 172.30.0.0/24 up0 42069 1)" = no ] &&
        pass "nft-present sees another config as different" || bad "nft-present other config"
expect_reach "$G1" 203.0.113.10 80 10.99.0.1 "guest reaches internet through NAT"
expect_blocked "$G1" 169.254.169.254 80 "guest cannot reach 169.254.169.254"
expect_blocked "$G1" 172.30.0.1 8080 "guest cannot reach host port 8080"
expect_blocked "$G1" 10.99.0.1 8080 "guest cannot reach host's uplink address"
expect_reach "$G1" 172.30.0.3 7000 "" "guests reach each other (isolate_vms off)"

dq() { ing "$G1" dig +time=1 +tries=2 -p 42069 @172.30.0.1 "$@"; }
out=$(dq web.vm A)
grep -q "status: NOERROR" <<<"$out" && grep -q "flags:.* aa" <<<"$out" &&
        grep -qE "^web\.vm\.\s+5\s+IN\s+A\s+172\.30\.0\.2" <<<"$out" &&
        pass "dig UDP web.vm A = 172.30.0.2 (aa)" || bad "dig UDP web.vm: $out"
out=$(dq +tcp db.vm A)
grep -q "status: NOERROR" <<<"$out" && grep -qE "IN\s+A\s+172\.30\.0\.3" <<<"$out" &&
        pass "dig TCP db.vm A = 172.30.0.3" || bad "dig TCP db.vm: $out"
out=$(dq nope.vm A)
grep -q "status: NXDOMAIN" <<<"$out" && grep -q "flags:.* aa" <<<"$out" &&
        grep -qE "^vm\.\s+5\s+IN\s+SOA" <<<"$out" &&
        pass "dig nope.vm = NXDOMAIN, aa, SOA" || bad "dig nope.vm: $out"
out=$(dq +tcp nope.vm A)
grep -q "status: NXDOMAIN" <<<"$out" && pass "dig TCP nope.vm = NXDOMAIN" || bad "dig TCP nope.vm: $out"
out=$(dq example.com A)
grep -q "status: REFUSED" <<<"$out" && pass "dig example.com = REFUSED" || bad "dig example.com: $out"
out=$(dq +tcp example.com A)
grep -q "status: REFUSED" <<<"$out" && pass "dig TCP example.com = REFUSED" || bad "dig TCP example.com: $out"
out=$(dq web.vm AAAA)
grep -q "status: NOERROR" <<<"$out" && grep -q "ANSWER: 0" <<<"$out" &&
        pass "dig web.vm AAAA = NODATA" || bad "dig web.vm AAAA: $out"

ing "$G1" "$TOOL" dns-garbage 172.30.0.1 42069 3000
kill -0 "$DNS_PID" 2>/dev/null && pass "DNS server survived junk" || bad "DNS server died on junk"
out=$(dq web.vm A)
grep -q "172.30.0.2" <<<"$out" && pass "DNS still answers after junk" || bad "DNS after junk: $out"

echo "# isolate_vms"
inh "$TOOL" nft-apply banger0 172.30.0.0/24 up0 42069 1 || bad "nft-apply isolate"
inh "$TOOL" port-isolate bgv1 1 && inh "$TOOL" port-isolate bgv2 1 || bad "port-isolate"
expect_blocked "$G1" 172.30.0.3 7000 "guests cannot reach each other"
expect_reach "$G1" 203.0.113.10 80 10.99.0.1 "isolated guest still reaches internet"
inh "$TOOL" port-isolate bgv1 0 && inh "$TOOL" port-isolate bgv2 0 || bad "port-isolate off"

echo "# unknown uplink: masquerade out of any non-bridge interface"
inh "$TOOL" nft-apply banger0 172.30.0.0/24 - 42069 0 || bad "nft-apply without uplink"
expect_reach "$G1" 203.0.113.10 80 10.99.0.1 "NAT works with the uplink unknown"
expect_blocked "$G1" 169.254.169.254 80 "169.254.169.254 blocked with the uplink unknown"

echo "# teardown"
inh "$TOOL" nft-teardown || bad "nft-teardown"
inh "$TOOL" nft-teardown || bad "nft-teardown (again)"
inh nft list table inet banger >/dev/null 2>&1 && bad "table inet banger still there" ||
        pass "table inet banger removed"
inh nft list chain inet other keepme >/dev/null 2>&1 && pass "table inet other untouched" ||
        bad "table inet other was removed"
[ "$(inh "$TOOL" nft-present banger0 172.30.0.0/24 - 42069 0)" = no ] &&
        pass "nft-present after teardown: no" || bad "nft-present after teardown"
inh "$TOOL" bridge-delete banger0 || bad "bridge-delete"
inh ip link show banger0 >/dev/null 2>&1 && bad "bridge still exists" || pass "bridge deleted"

if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed"
        exit 1
fi
echo "all checks passed"
