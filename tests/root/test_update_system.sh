#!/usr/bin/env bash
# Issue #21 item 1 in system mode: `sudo banger update` against a real system
# install (systemd as PID 1 of a throwaway container, tests/e2e/sysd_lib.sh)
# and a local HTTPS release server with a throwaway ed25519 key (config
# update.public_key in root's /etc/banger/config.toml):
#   - the owner is refused (exit 6, "sudo banger update"), nothing replaced;
#     the owner's --check works;
#   - a libexec directory the owner's group may write is refused (exit 6)
#     naming it, nothing replaced, no staging directory left;
#   - a tampered manifest is refused (exit 6), nothing replaced;
#   - the signed release replaces banger in PREFIX/bin and the five services
#     and the agent in PREFIX/libexec/banger (root's, 0755), install.toml
#     says 9.9.9, the units run the new binaries (new main PIDs, every service
#     up) and a process in banger-vmsvc's cgroup (what a VM's QEMU is) keeps
#     running;
#   - a release whose gateway exits is rolled back: exit 7, the binaries
#     before it are back, install.toml says 9.9.9 again, every unit is up
#     and the process in vmsvc's cgroup still runs.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "namespaces, systemd as PID 1 of a container"
need_tools ip nsenter unshare setpriv useradd jq openssl python3 sha256sum
[ -x /lib/systemd/systemd ] ||
        setup_fail "/lib/systemd/systemd is missing (package systemd; scripts/install-deps.sh installs it)"
isolate_network "$@"
. "$BANGER_SOURCE_DIR/tests/e2e/sysd_lib.sh"
AGENT="$BANGER_BUILD_DIR/guest/agent/banger-agent"
need_built "$AGENT"

W=$(mktemp -d /tmp/bgupd.XXXXXX)
chmod 755 "$W"
mkdir -p "$W/srv"
SRV_PID=""
cleanup() {
        local rc=$?
        set +e
        # Not a bare `wait`: sysd_up's launcher is a job of this shell too.
        if [ -n "$SRV_PID" ]; then
                kill "$SRV_PID" 2>/dev/null
                wait "$SRV_PID" 2>/dev/null || true
        fi
        sysd_down
        rm -rf "$W"
        exit $rc
}
trap cleanup EXIT

SERVICES="banger-gateway banger-vmsvc banger-imagesvc banger-netsvc banger-workspacesvc"
BINS="banger $SERVICES banger-agent"
inst_path() { # inst_path NAME: where system install put it
        if [ "$1" = banger ]; then echo /usr/local/bin/banger; else echo "/usr/local/libexec/banger/$1"; fi
}
src_path() { if [ "$1" = banger-agent ]; then echo "$AGENT"; else echo "$BIN/$1"; fi; }
hashes() { for b in $BINS; do sysd sha256sum "$(inst_path "$b")"; done; }
main_pid() { sysd systemctl show -P MainPID "$1.service"; }
all_active() {
        local u
        for u in $SERVICES; do [ "$(sysd systemctl is-active "$u.service")" = active ] || return 1; done
}
toml_version() { sysd sed -n 's/^version = "\(.*\)"$/\1/p' /etc/banger/install.toml; }
no_stage() { ! sysd ls -a /usr/local/bin /usr/local/libexec/banger | grep -q '^\.banger-update-'; }

# The release server: TLS with a self-signed certificate for 127.0.0.1, in
# this network namespace (the container shares it).
start_https_server "$W" "$W/srv"

openssl genpkey -algorithm ed25519 -out "$W/release.pem" 2>/dev/null
PUB=$(openssl pkey -in "$W/release.pem" -pubout -outform DER | tail -c 32 | base64)
sign() { openssl pkeyutl -sign -inkey "$W/release.pem" -rawin -in "$1" | base64 -w0 >"$1.sig"; }
# release NAME VERSION [GATEWAY_FILE]: srv/NAME/ holds each binary plus a line
# naming the release (an ELF runs with bytes after its end) and a signed
# manifest.json listing them.
release() {
        local d="$W/srv/$1" v=$2 gw=${3:-} b sep="" f
        mkdir -p "$d"
        for b in $BINS; do
                cp "$(src_path "$b")" "$d/$b"
                printf '\n# banger release %s %s\n' "$v" "$b" >>"$d/$b"
        done
        [ -n "$gw" ] && cp "$gw" "$d/banger-gateway"
        {
                printf '{"releases": [{"version": "%s", "binaries": {' "$v"
                for b in $BINS; do
                        f="$d/$b"
                        printf '%s"%s": {"url": "%s/%s/%s", "sha256": "%s", "size": %s}' "$sep" "$b" \
                                "$URL" "$1" "$b" "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")"
                        sep=", "
                done
                printf '}}]}\n'
        } >"$d/manifest.json"
        sign "$d/manifest.json"
}
release good 9.9.9
release tampered 9.9.9
sed -i 's/"9.9.9"/"9.9.8"/' "$W/srv/tampered/manifest.json" # after signing
printf '#!/bin/sh\necho "bad gateway" >&2\nexit 1\n' >"$W/badgw.sh"
release badgw 9.9.10 "$W/badgw.sh"
chmod -R go+rX "$W/srv"

SYSD_BINDS="$BANGER_BUILD_DIR $BANGER_SOURCE_DIR $W"
check "systemd boots as PID 1 of a container" sysd_up
[ "$T_FAILS" -eq 0 ] || { finish; exit 1; }
sysd_owner bgowner
out=$(sysd "$BANGER" system install --owner $OWNER 2>&1) && rc=0 || rc=$?
check "system install --owner $OWNER" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { echo "$out" | tail -5; finish; exit 1; }
cfg() { # cfg RELEASE: root's config points update.manifest_url at srv/RELEASE
        printf '[update]\nmanifest_url = "%s/%s/manifest.json"\nca_file = "%s"\npublic_key = "%s"\n' \
                "$URL" "$1" "$W/tls.crt" "$PUB" | sysd tee /etc/banger/config.toml >/dev/null
        sysd chmod 644 /etc/banger/config.toml
}
cfg good

# A process in banger-vmsvc's cgroup stands for a VM's QEMU: it must outlive
# every restart an update makes.
CG=$(sysd systemctl show -P ControlGroup banger-vmsvc.service)
VMP=$(sysd sh -c 'sleep 100000 >/dev/null 2>&1 </dev/null & echo $!')
sysd sh -c "echo $VMP > /sys/fs/cgroup$CG/cgroup.procs" || setup_fail "cannot move a process into $CG"
vm_alive() { sysd kill -0 "$VMP"; }
before=$(hashes)
gw_pid=$(main_pid banger-gateway)

# The owner: refused; --check works.
rc=0; out=$(as_owner banger update 2>&1) || rc=$?
check "the owner's update: refused with exit 6 (got $rc)" [ "$rc" -eq 6 ]
check "  saying to run it as root" grep -q "sudo banger update" <<<"$out"
check "  nothing replaced" [ "$(hashes)" = "$before" ]
out=$(as_owner banger update --check --json 2>&1) || true
check "the owner's --check: 9.9.9 is available" bash -c 'jq -e ".update_available and .release == \"9.9.9\"" <<<"$1" >/dev/null' _ "$out"

# A directory on the way the owner's group may write: refused, named.
sysd chgrp $OWNER /usr/local/libexec/banger
sysd chmod 775 /usr/local/libexec/banger
rc=0; out=$(sysd banger update 2>&1) || rc=$?
check "a group-writable libexec dir: refused with exit 6 (got $rc)" [ "$rc" -eq 6 ]
check "  naming it" grep -q "/usr/local/libexec/banger is owned by uid 0 or writable by others" <<<"$out"
check "  nothing replaced" [ "$(hashes)" = "$before" ]
check "  no staging directory left" no_stage
sysd chmod 755 /usr/local/libexec/banger
sysd chgrp root /usr/local/libexec/banger
check "  the services were not touched" [ "$(main_pid banger-gateway)" = "$gw_pid" ]

# A tampered manifest.
cfg tampered
rc=0; out=$(sysd banger update 2>&1) || rc=$?
check "tampered manifest: refused with exit 6 (got $rc)" bash -c '[ $1 -eq 6 ] && grep -q "signature does not verify" <<<"$2"' _ "$rc" "$out"
check "  nothing replaced" [ "$(hashes)" = "$before" ]

# The signed release.
cfg good
rc=0; out=$(sysd banger update --json 2>"$W/err") || rc=$?
tail -3 "$W/err"
check "signed release: sudo banger update exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "  reports 9.9.9" bash -c 'jq -e ".status == \"updated\" and .to == \"9.9.9\"" <<<"$1" >/dev/null' _ "$out"
ok=1
for b in $BINS; do
        [ "$(sha256sum <"$(sysd_file "$(inst_path "$b")")" | cut -d' ' -f1)" = \
          "$(sha256sum <"$W/srv/good/$b" | cut -d' ' -f1)" ] || { ok=0; echo "  $b not replaced"; }
        [ "$(sysd stat -c '%u %a' "$(inst_path "$b")")" = "0 755" ] || { ok=0; echo "  $b not root's 0755"; }
done
check "  banger, the five services and the agent are the release's, root's, 0755" [ "$ok" -eq 1 ]
check "  install.toml says 9.9.9" [ "$(toml_version)" = 9.9.9 ]
check "  every unit is active" wait_for 20 all_active
check "  the gateway is a new process" [ "$(main_pid banger-gateway)" != "$gw_pid" ]
check "  each unit runs the new binary" bash -c 'for s in $1; do
        p=$(sysd systemctl show -P MainPID "$s.service")
        [ "$(sysd readlink "/proc/$p/exe")" = "/usr/local/libexec/banger/$s" ] || exit 1; done' _ "$SERVICES"
check "  the owner reaches every service" wait_for 20 bash -c 'as_owner banger status >/dev/null' 
check "  the process in vmsvc's cgroup kept running" vm_alive
check "  no staging directory left" no_stage
good=$(hashes)
gw_pid=$(main_pid banger-gateway)

# A release whose gateway exits at once: rolled back.
cfg badgw
rc=0; sysd banger update --timeout 10 >"$W/out" 2>"$W/err" || rc=$?
tail -3 "$W/err"
check "bad gateway: update fails with exit 7 (got $rc)" [ "$rc" -eq 7 ]
check "  saying it rolled back" grep -q "rolled back to" "$W/err"
check "  the binaries before it are back" [ "$(hashes)" = "$good" ]
check "  install.toml says 9.9.9 again" [ "$(toml_version)" = 9.9.9 ]
check "  every unit is active again" wait_for 20 all_active
check "  the owner reaches every service" wait_for 20 bash -c 'as_owner banger status >/dev/null' 
check "  the process in vmsvc's cgroup kept running" vm_alive
check "  no staging directory left" no_stage

sysd kill "$VMP" 2>/dev/null || true
finish
