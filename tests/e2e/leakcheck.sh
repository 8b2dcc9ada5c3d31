# Host state banger is responsible for, as text, to compare before and after
# (sourced after testlib.sh; run inside the test's own network namespace, so
# every link and nft table in it is banger's):
#   leak_snapshot FILE     writes the state to FILE
#   leak_diff A B          prints what differs; returns 1 when anything does
# What it covers: links (taps, bridge, their master and state), the nftables
# ruleset (counters dropped), netsvc's leases and taps, vmsvc's VMs and
# templates, imagesvc's images (their rows), every file and directory under
# $BANGER_HOME/state except logs and SQLite's -wal/-shm (and the live
# databases themselves, whose bytes change with every write), VMM and helper
# processes started with this BANGER_HOME (not the five services, whose pids
# a restart changes), loop devices and mounts that name BANGER_HOME.

leak_q() { # leak_q DB SQL: rows, or a line saying the database is missing
        if [ -f "$1" ]; then sqlite3 -readonly -separator ' ' "$1" "$2" 2>&1 | sed "s|^|$(basename "$1"): |"
        else echo "$(basename "$1"): absent"; fi
}

leak_snapshot() {
        # An empty section is no error (testlib.sh sets -e and pipefail).
        local -
        local out=$1 st="$BANGER_HOME/state" p comm
        set +e +o pipefail
        {
                echo "## links"
                ip -o link show | awk '{ $1 = ""; print }' |
                        sed -E 's/ link\/ether [0-9a-f:]+ brd [0-9a-f:]+//; s/ qlen [0-9]+//' |
                        grep -v '^ lo:' | sed -E 's/bgt[0-9]+/bgtN/g' | sort | uniq -c
                echo "## nft"
                nft list ruleset 2>&1 | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
                echo "## rows"
                local netdb
                for netdb in "$st/net.db" "$st"/net/net.db; do
                        [ -f "$netdb" ] || continue
                        leak_q "$netdb" "SELECT 'lease', vm_name, ip FROM leases ORDER BY vm_name"
                        # Pool taps are made and dropped under new names: count them.
                        leak_q "$netdb" "SELECT 'taps', state, coalesce(vm_name, ''), count(*) FROM taps GROUP BY 2, 3 ORDER BY 2, 3"
                done
                leak_q "$st/vms.db" "SELECT 'vm', name, state, tap, ip, pid FROM vms ORDER BY name"
                leak_q "$st/vms.db" "SELECT 'template', name, state, tap, lease FROM templates ORDER BY name"
                leak_q "$st/images.db" "SELECT 'image', name FROM images ORDER BY name"
                echo "## files"
                (cd "$st" && find . -mindepth 1 \( -path ./logs -prune \) -o \
                        ! -name '*.db' ! -name '*.db-wal' ! -name '*.db-shm' -printf '%y %p\n' | sort)
                echo "## processes"
                # One grep over every environ (a process each would take
                # seconds on a busy host).
                for p in $(grep -lxzsF "BANGER_HOME=$BANGER_HOME" /proc/[0-9]*/environ 2>/dev/null); do
                        p=${p%/environ}
                        comm=$(cat "$p/comm" 2>/dev/null) || continue
                        case "$comm" in banger-*) continue ;; esac
                        [ "${p#/proc/}" = "$$" ] && continue
                        grep -q '^State:.*[Z]' "$p/status" 2>/dev/null && comm="$comm (zombie)"
                        echo "$comm $(tr '\0' ' ' < "$p/cmdline" | grep -o -- '-name [^ ]*' || true)"
                done | grep -v -E '^(bash|sleep|cat|grep|tr|sort|sed|awk|find|timeout|ip|nft|sqlite3|jq|banger) ' | sort
                echo "## loop devices and mounts"
                losetup -a 2>/dev/null | grep -F "$BANGER_HOME" || true
                grep -F "$BANGER_HOME" /proc/self/mounts || true
        } > "$out"
}

leak_diff() {
        if diff -u "$1" "$2" > "$2.diff"; then
                return 0
        fi
        echo "  host state differs (- before, + after):"
        grep '^[-+][^-+]' "$2.diff" | sed 's/^/    /'
        return 1
}

# leak_same BASE SECONDS: waits (the tap pool refills in the background) until
# the host state equals BASE; prints the difference and returns 1 when it
# still differs after SECONDS.
leak_same() {
        local base=$1 cur="$1.now" until=$(( $(date +%s) + $2 ))
        while :; do
                leak_snapshot "$cur"
                cmp -s "$base" "$cur" && return 0
                [ "$(date +%s)" -lt "$until" ] || break
                sleep 0.5
        done
        leak_diff "$base" "$cur"
}
