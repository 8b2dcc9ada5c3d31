#!/usr/bin/env bash
# Issue #21 item 1: `banger update` against a local HTTPS release server
# (python3 ssl, a self-signed certificate trusted through config
# update.ca_file) and a throwaway ed25519 key (config update.public_key, from
# a root-owned config file). banger is installed by copying build/bin into a
# directory of its own, and the services run from there:
#   - --check says an update is available;
#   - a tampered manifest (its .sig is the original's) is refused (exit 6),
#     nothing is replaced and the services keep running;
#   - a signed manifest whose binary does not match its sha256 is refused;
#   - while a kernel pull runs, the update is refused (exit 5);
#   - a key in a config file others may write is refused;
#   - the signed release replaces all six binaries, every service is up
#     again from them, and a --no-start VM's row survives;
#   - a release whose gateway exits at once is rolled back: the binaries
#     before it are back and every service is up.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
: "${KERNEL_MKIMAGE:?run through ctest}"
HERE=$(cd "$(dirname "$0")" && pwd)
LAYOUT="$BANGER_BUILD_DIR/tests/oci_layout_tool"
REGISTRY=/usr/bin/docker-registry
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
need_built "$LAYOUT" "$AGENT" "$KERNEL_MKIMAGE"
[ -x "$REGISTRY" ] || setup_fail "$REGISTRY is missing (package docker-registry; scripts/install-deps.sh installs it)"
need_tools skopeo jq openssl python3 sha256sum
export BANGER_AGENT_BINARY="$AGENT"
BINS="banger banger-gateway banger-vmsvc banger-imagesvc banger-netsvc banger-workspacesvc"

new_home
W="$BANGER_HOME/w"
I="$BANGER_HOME/inst/bin" # laid out like the build tree: guest files in ../share
mkdir -p "$W" "$I" "$W/srv"
for b in $BINS; do cp "$BIN/$b" "$I/$b"; done
ln -s "$BANGER_BUILD_DIR/share" "$BANGER_HOME/inst/share"
chmod 755 "$I"
B="$I/banger"
SRV_PID="" REG_PID="" SLOW_PID=""
cleanup() {
        local rc=$?
        for p in $SRV_PID $REG_PID $SLOW_PID; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null
        cleanup_home
        exit $rc
}
trap cleanup EXIT

# The release server: TLS with a self-signed certificate for 127.0.0.1.
start_https_server "$W" "$W/srv"

# The release key, made here and thrown away with the test.
openssl genpkey -algorithm ed25519 -out "$W/release.pem" 2>/dev/null
PUB=$(openssl pkey -in "$W/release.pem" -pubout -outform DER | tail -c 32 | base64)
sign() { # sign FILE: FILE.sig = base64 ed25519 signature of FILE
        openssl pkeyutl -sign -inkey "$W/release.pem" -rawin -in "$1" | base64 -w0 >"$1.sig"
}
# release NAME VERSION [GATEWAY_FILE]: srv/NAME/ holds each binary of the
# installed banger plus a line naming the release (an ELF runs with bytes
# after its end), and a signed manifest.json listing them.
release() {
        local d="$W/srv/$1" v=$2 gw=${3:-} b sep="" f
        mkdir -p "$d"
        for b in $BINS; do
                cp "$BIN/$b" "$d/$b"
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
hashes() { (cd "$I" && sha256sum $BINS); }

release good 9.9.9
release tampered 9.9.9
sed -i 's/"9.9.9"/"9.9.8"/' "$W/srv/tampered/manifest.json" # after signing
release badsha 9.9.9
printf 'X' >>"$W/srv/badsha/banger-vmsvc"                 # after signing
printf '#!/bin/sh\necho "bad gateway" >&2\nexit 1\n' >"$W/badgw.sh"
release badgw 9.9.10 "$W/badgw.sh"

mkdir -p "$BANGER_HOME/config"
CFG="$BANGER_HOME/config/config.toml"
cfg() { # cfg RELEASE: point update.manifest_url at srv/RELEASE
        printf '[update]\nmanifest_url = "%s/%s/manifest.json"\nca_file = "%s"\npublic_key = "%s"\n' \
                "$URL" "$1" "$W/tls.crt" "$PUB" >"$CFG"
        chmod 644 "$CFG"
}

# Services from the installed copy, and a stopped VM (image from a local
# registry, a synthetic kernel).
check "daemon start from the install directory" "$B" daemon start --timeout 30
. "$HERE/registry_lib.sh"
registry_start "$W/registry" || setup_fail "docker-registry did not start"
REG_PID=$REGISTRY_PID
R="127.0.0.1:$REGISTRY_PORT"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/policy.json"
printf 'dir etc 0755 0 0\nfile etc/hostname 0644 0 0 base\ndir sbin 0755 0 0\nfile sbin/init 0755 0 0 #!init\ndir root 0700 0 0\n' >"$W/base.spec"
"$LAYOUT" "$W/busy" v1 --platform linux/amd64 --layer "$W/base.spec:gz" >/dev/null
skopeo --policy "$W/policy.json" copy -q --dest-tls-verify=false "oci:$W/busy:v1" "docker://$R/test/busy:v1" ||
        setup_fail "skopeo could not push to the local registry"
"$KERNEL_MKIMAGE" bzimage "$W/bzImage" 512
"$B" kernel import "$W/bzImage" --name k1 >/dev/null 2>"$W/err" || fail_stop "kernel import: $(cat "$W/err")"
"$B" vm create --image "$R/test/busy:v1" --kernel k1 --no-start --name keep1 >/dev/null 2>"$W/err" ||
        fail_stop "vm create --no-start: $(cat "$W/err")"
show=$("$B" vm show keep1 --json)
# Item 7: the way the root disk was made is stored and shown (QEMU here).
check "vm show says how the root disk was made (qcow2-overlay under QEMU)" \
        jq -e '.root_disk == "qcow2-overlay" and .vmm == "qemu"' <<<"$show"
check "  and the text view too" bash -c '"$1" vm show keep1 | grep -q "^root disk: qcow2-overlay$"' _ "$B"
before=$(hashes)
gw_pid=$(svc_pid gateway)

# --check
cfg good
out=$("$B" update --check --json 2>"$W/err") || fail "update --check: $(cat "$W/err")"
check "--check: an update to 9.9.9 is available" jq -e '.update_available and .release == "9.9.9"' <<<"$out"
check "--check replaced nothing" [ "$(hashes)" = "$before" ]

# Tampered manifest.
cfg tampered
rc=0; "$B" update >"$W/out" 2>"$W/err" || rc=$?
cat "$W/err"
check "tampered manifest: refused with exit 6" [ "$rc" -eq 6 ]
check "  naming the signature" grep -q "signature does not verify" "$W/err"
check "  nothing replaced" [ "$(hashes)" = "$before" ]
check "  the services were not touched" [ "$(svc_pid gateway)" = "$gw_pid" ]

# A binary that does not match the signed sha256.
cfg badsha
rc=0; "$B" update >"$W/out" 2>"$W/err" || rc=$?
tail -1 "$W/err"
check "binary not matching the signed manifest: refused with exit 6" bash -c '[ $1 -eq 6 ] && grep -q "banger-vmsvc: .*the signed manifest says" "$2"' _ "$rc" "$W/err"
check "  nothing replaced, services untouched" bash -c '[ "$(cd "$1" && sha256sum $2)" = "$3" ] && [ "$(cut -d" " -f1 "$4")" = "$5" ]' _ "$I" "$BINS" "$before" "$RUN/gateway.pid" "$gw_pid"
check "  no staging directory left" bash -c '! ls -a "$1" | grep -q "^\.banger-update-"' _ "$I"

# A key in a config file others may write is not trusted.
cfg good
chmod 666 "$CFG"
rc=0; "$B" update >"$W/out" 2>"$W/err" || rc=$?
check "update.public_key from a world-writable config: refused (exit 6)" bash -c '[ $1 -eq 6 ] && grep -q "writable by others" "$2"' _ "$rc" "$W/err"
chmod 644 "$CFG"

# Refused while an operation runs: a kernel pull from a slow server.
start_slow_server "$W" || setup_fail "slow server did not start"
"$B" kernel pull slow --catalog "$W/slow.json" >/dev/null 2>"$W/slow.err" &
pull=$!
wait_for 30 grep -q "download: [1-9]" "$W/slow.err" || fail "the slow pull did not start downloading"
rc=0; "$B" update >"$W/out" 2>"$W/err" || rc=$?
tail -1 "$W/err"
check "while a kernel pull runs: refused (exit 5) naming it" bash -c '[ $1 -eq 5 ] && grep -q "kernel.pull" "$2"' _ "$rc" "$W/err"
check "  nothing replaced" [ "$(hashes)" = "$before" ]
kill -INT "$pull" 2>/dev/null || true
wait "$pull" 2>/dev/null || true
kill "$SLOW_PID" 2>/dev/null || true
wait_for 10 bash -c '[ "$("$1" kernel ops --json | jq length)" = 0 ]' _ "$B" || fail "the slow pull did not end"

# The signed release.
rc=0; "$B" update --json >"$W/out" 2>"$W/err" || rc=$?
tail -3 "$W/err"
check "signed release: update exits 0" [ "$rc" -eq 0 ]
check "  reports 9.9.9" jq -e '.status == "updated" and .to == "9.9.9"' "$W/out"
ok=1
for b in $BINS; do
        [ "$(sha256sum <"$I/$b")" = "$(sha256sum <"$W/srv/good/$b")" ] || { ok=0; echo "  $b not replaced"; }
done
check "  all six binaries are the release's" [ "$ok" -eq 1 ]
check "  every service is up" "$B" status
check "  the gateway is a new process" [ "$(svc_pid gateway)" != "$gw_pid" ]
check "  each service runs the new binary" bash -c 'for s in gateway vmsvc imagesvc workspacesvc; do
        [ "$(readlink "/proc/$(cut -d" " -f1 "$1/$s.pid")/exe")" = "$2/banger-$s" ] || exit 1; done' _ "$RUN" "$I"
check "  the --no-start VM is still there, stopped" bash -c '"$1" vm show keep1 --json | jq -e ".state == \"stopped\" and .root_disk == \"qcow2-overlay\"" >/dev/null' _ "$B"
check "  no staging directory left" bash -c '! ls -a "$1" | grep -q "^\.banger-update-"' _ "$I"
good=$(hashes)
gw_pid=$(svc_pid gateway)

# A release whose gateway exits at once: rolled back.
cfg badgw
rc=0; "$B" update --timeout 10 >"$W/out" 2>"$W/err" || rc=$?
tail -3 "$W/err"
check "bad gateway: update fails with exit 7" [ "$rc" -eq 7 ]
check "  saying it rolled back" grep -q "rolled back to" "$W/err"
check "  the binaries before it are back" [ "$(hashes)" = "$good" ]
check "  every service is up again" wait_for 10 "$B" status
check "  the --no-start VM is still there" "$B" vm show keep1
check "  no staging directory left" bash -c '! ls -a "$1" | grep -q "^\.banger-update-"' _ "$I"

# Up to date: nothing to do.
cfg good
out=$("$B" update --version 9.9.9 --check 2>&1) || fail "--check --version: $out"
check "--check --version 9.9.9 names the release" grep -q "release: 9.9.9" <<<"$out"
rc=0; "$B" update --version 1.0.0 >"$W/out" 2>"$W/err" || rc=$?
check "--version of a release the manifest lacks: exit 3 listing what it has" bash -c '[ $1 -eq 3 ] && grep -q "it has: 9.9.9" "$2"' _ "$rc" "$W/err"

"$B" vm delete keep1 >/dev/null 2>&1 || true
finish
