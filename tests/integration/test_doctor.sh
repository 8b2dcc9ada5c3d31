#!/bin/bash
# `banger doctor --json` on this machine: its rows must say what the machine
# is. First with nothing running (user mode), then with banger up.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_tools jq
new_home

row() { jq -r --arg id "$1" '.rows[] | select(.id == $id) | .status' <<<"$J"; }
msg() { jq -r --arg id "$1" '.rows[] | select(.id == $id) | .message' <<<"$J"; }
has_tool() { PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null; }

J=$("$BANGER" doctor --json) && rc=0 || rc=$?
check "doctor --json is JSON with rows" jq -e '.rows | length > 20' <<<"$J"
check "user mode" [ "$(jq -r .mode <<<"$J")" = user ]
nfail=$(jq '[.rows[] | select(.status == "FAIL")] | length' <<<"$J")
if [ "$nfail" -gt 0 ]; then
        check "exit 5 when a row fails" [ "$rc" -eq 5 ]
else
        check "exit 0 when no row fails" [ "$rc" -eq 0 ]
fi
check "summary counts match the rows" jq -e \
        '.summary.pass + .summary.warn + .summary.fail == (.rows | length)' <<<"$J"
check "every non-PASS row has a hint" jq -e \
        '[.rows[] | select(.status != "PASS" and ((.hint // "") == ""))] | length == 0' <<<"$J"

# docs/troubleshooting.md is keyed by the rows: every id has a heading.
for id in $(jq -r '.rows[].id' <<<"$J") system.install system.sockets system.units; do
        check "docs/troubleshooting.md has an entry for $id" \
                grep -Eq "^## (.*, )?${id//./\\.}(,|\$)" "$BANGER_SOURCE_DIR/docs/troubleshooting.md"
done

for t in mkfs.ext4 e2fsck qemu-img mmdebstrap gpgv ssh; do
        want=WARN
        has_tool "$t" && want=PASS
        [ "$want" = WARN ] && { [ "$t" = mkfs.ext4 ] || [ "$t" = e2fsck ]; } && want=FAIL
        check "tools.$t is $want" [ "$(row "tools.$t")" = "$want" ]
done

# kvm: PASS exactly when /dev/kvm opens read-write here.
if [ -c /dev/kvm ] && { exec 9<>/dev/kvm; } 2>/dev/null; then
        exec 9>&-
        check "kvm PASS (/dev/kvm opens)" [ "$(row kvm)" = PASS ]
else
        check "kvm not PASS (/dev/kvm missing or closed)" [ "$(row kvm)" != PASS ]
fi

q=$(PATH="$PATH:/usr/sbin" command -v qemu-system-x86_64 || true)
if [ -n "$q" ]; then
        v=$("$q" --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)
        check "vmm.qemu PASS naming $v" [ "$(row vmm.qemu)" = PASS ]
        check "vmm.qemu names the version" grep -q "QEMU $v" <<<"$(msg vmm.qemu)"
fi
if ! command -v firecracker >/dev/null; then
        check "vmm.firecracker WARN when not installed" [ "$(row vmm.firecracker)" = WARN ]
fi

free_kib=$(df -Pk "$BANGER_HOME" | awk 'NR == 2 { print $4 }')
want=PASS
[ "$free_kib" -lt $((5 * 1024 * 1024)) ] && want=WARN
[ "$free_kib" -lt $((1024 * 1024)) ] && want=FAIL
check "disk is $want (${free_kib} KiB free)" [ "$(row disk)" = "$want" ]

check "service.gateway WARN with nothing running (user mode)" \
        [ "$(row service.gateway)" = WARN ]
check "version PASS with nothing running" [ "$(row version)" = PASS ]
check "no system rows in user mode" \
        jq -e '[.rows[] | select(.id | startswith("system."))] | length == 0' <<<"$J"
if [ -d /run/systemd/resolve ]; then :; else
        check "resolver WARN without systemd-resolved" [ "$(row resolver)" = WARN ]
fi

# A text report, same rows.
T=$("$BANGER" doctor) || true
check "text report has a PASS line for config" grep -q '^PASS  config' <<<"$T"
check "text report ends with the counts" grep -q 'passed, .* warnings, .* failed$' <<<"$T"

# A bad config is a FAIL row, and the exit code says so.
mkdir -p "$BANGER_HOME/config"
printf '[vm]\nvcpu = "lots"\n' > "$BANGER_HOME/config/config.toml"
J=$("$BANGER" doctor --json) && rc=0 || rc=$?
check "bad config: config row FAILs naming the line" grep -q 'config.toml:2' <<<"$(msg config)"
check "bad config: exit 5" [ "$rc" -eq 5 ]

# With banger running: services, version and the DNS port owner. netsvc
# needs root; its network here is private to this test.
[ "$(id -u)" -eq 0 ] || { finish; exit $?; }
cat > "$BANGER_HOME/config/config.toml" <<'TOML'
[network]
bridge = "bgdoc0"
subnet = "10.213.77.1/24"
dns_listen = "127.0.0.1:42677"
tap_pool_size = 0
TOML
"$BANGER" daemon start --timeout 30 >/dev/null || { cat "$BANGER_HOME"/state/logs/*.log; fail "daemon start"; finish; exit 1; }
J=$("$BANGER" doctor --json) && rc=0 || rc=$?
for s in gateway netsvc imagesvc vmsvc workspacesvc; do
        check "service.$s PASS while running" [ "$(row service.$s)" = PASS ]
done
commits=$("$BANGER" status --json | jq -r '[.gateway.commit, .services[].commit] | unique | join(" ")')
mine=$("$BANGER" version --json | jq -r .commit)
if [ "$commits" = "$mine" ]; then
        check "version PASS: every service is commit $mine" [ "$(row version)" = PASS ]
else
        check "version WARN: services are $commits, banger $mine" [ "$(row version)" = WARN ]
fi
netsvc_pid=$(svc_pid netsvc)
if "$BANGER" net status 2>/dev/null | grep -q '127.0.0.1:42677'; then
        check "dns.port PASS: banger-netsvc (pid $netsvc_pid) holds 127.0.0.1:42677" \
                [ "$(row dns.port)" = PASS ]
        check "dns.port names pid $netsvc_pid" \
                grep -q "banger-netsvc (pid $netsvc_pid)" <<<"$(msg dns.port)"
else
        check "dns.port WARN: netsvc did not set up its DNS" [ "$(row dns.port)" = WARN ]
fi
check "subnet 10.213.77.0/24 checked" grep -q '10.213.77.0/24' <<<"$(msg subnet)"
"$BANGER" net teardown --force >/dev/null 2>&1 || true
finish
