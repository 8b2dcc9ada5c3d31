#!/usr/bin/env bash
# e2e: `banger kernel pull debian-cloud-amd64` against the Debian mirror this
# host uses: InRelease (gpgv) -> Packages -> .deb, then bzImage, vmlinux,
# initramfs and modules.ext4; a re-pull downloads nothing; `kernel catalog`
# lists several flavours and releases, completion offers them, and an exact
# release pulls by name; a catalog entry with
# a wrong sha256 is refused naming the check; a good "deb" catalog entry works.
. "$(dirname "$0")/testlib.sh"
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
: "${BANGER_E2E_INIT:?run through ctest}" "${BANGER_E2E_TOOL:?run through ctest}"
need_built "$AGENT" "$BANGER_E2E_INIT" "$BANGER_E2E_TOOL"
export BANGER_AGENT_BINARY="$AGENT"
need_tools gpgv depmod e2fsck jq curl
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
        2>/dev/null | grep -v "^[[:space:]]*#" | grep -oE "https?://[^ ]*debian/?" | grep -v security |
        head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
need_mirror "$mirror"
new_home
export BANGER_CACHE_DIR="$BANGER_BUILD_DIR/e2e-kernel-cache"
mkdir -p "$BANGER_CACHE_DIR"
KDIR="$BANGER_HOME/state/kernels"
N=debian-cloud-amd64

# Only the gateway and imagesvc: this test needs the host's network for the
# mirror, and netsvc would set up its bridge and rules on the host.
"$BIN/banger-imagesvc" --owner-uid 0 >"$BANGER_HOME/imagesvc.log" 2>&1 &
"$BIN/banger-gateway" --owner-uid 0 >"$BANGER_HOME/gateway.log" 2>&1 &
check "imagesvc and gateway up" wait_for 10 "$BANGER" kernel list
t0=$(date +%s)
json=$("$BANGER" kernel pull $N --json 2>"$BANGER_HOME/err") || fail "pull: $(tail -3 "$BANGER_HOME/err")"
tail -12 "$BANGER_HOME/err"
echo "  pull took $(( $(date +%s) - t0 )) s"
check "progress names the operation and its last stage" bash -c 'grep -q "kernel.pull $2" "$1" && grep -q "stage 11/11: publish" "$1"' _ "$BANGER_HOME/err" "$N"
ver=$(jq -r .version <<<"$json")
echo "  version $ver"
check "version is a cloud-amd64 release" grep -Eq '^[0-9]+\.[0-9]+.*-cloud-amd64$' <<<"$ver"
check "source names the Debian package" bash -c 'jq -r .source <<<"$1" | grep -q "linux-image-$2"' _ "$json" "$ver"
check "bzImage kept" test -s "$KDIR/$N/bzImage"
check "vmlinux is an x86-64 ELF" bash -c 'file -b "$1" 2>/dev/null | grep -q "ELF 64-bit.*x86-64" || head -c4 "$1" | grep -q ELF' _ "$KDIR/$N/vmlinux"
check "initramfs present" test -s "$KDIR/$N/initramfs.cpio.gz"
check "modules.ext4 passes e2fsck -fn" e2fsck -fn "$KDIR/$N/modules.ext4"
check "modules.ext4 holds modules.dep" bash -c 'debugfs -R "stat /modules.dep" "$1" 2>/dev/null | grep -q "Type: regular"' _ "$KDIR/$N/modules.ext4"
mods=$(jq -r '.initramfs_modules | join(" ")' <<<"$json")
echo "  initramfs modules: $mods"
check "no wanted module is missing" bash -c 'jq -e ".missing_modules == []" <<<"$1" >/dev/null' _ "$json"
check "initramfs carries vsock transport" grep -q "vmw_vsock_virtio_transport.ko" <<<"$mods"
check "initramfs lists them in modules.order" bash -c 'zcat "$1" | grep -aq "vmw_vsock_virtio_transport.ko"' _ "$KDIR/$N/initramfs.cpio.gz"

# Again: verified from the cache, nothing rebuilt.
before=$(ls "$BANGER_CACHE_DIR/kernels" | wc -l)
json2=$("$BANGER" kernel pull $N --json 2>/dev/null) || fail "second pull failed"
check "re-pull keeps the same kernel" bash -c '[ "$(jq .created_unix_ms <<<"$1")" = "$(jq .created_unix_ms <<<"$2")" ]' _ "$json" "$json2"
check "re-pull downloaded no new file" [ "$(ls "$BANGER_CACHE_DIR/kernels" | wc -l)" -eq "$before" ]

# The Debian catalog: what `kernel pull` can fetch, from the same verified
# index (now cached), several flavours and exact releases.
cat=$("$BANGER" kernel catalog --json 2>"$BANGER_HOME/err") || fail "kernel catalog: $(tail -3 "$BANGER_HOME/err")"
echo "  catalog: $(jq -r '.origin' <<<"$cat"), $(jq '.entries | length' <<<"$cat") entries: $(jq -r '[.entries[].name] | join(" ")' <<<"$cat" | cut -c1-300)"
check "catalog lists several flavours (cloud-amd64, amd64)" jq -e '[.entries[] | select(.tracks_latest) | .name] | (index("debian-cloud-amd64") != null) and (index("debian-amd64") != null)' <<<"$cat"
check "catalog lists exact releases too" jq -e '[.entries[] | select(.tracks_latest | not)] | length >= 2' <<<"$cat"
check "catalog's debian-cloud-amd64 is the release just pulled" jq -e --arg v "$ver" '.entries[] | select(.name == "debian-cloud-amd64") | .release == $v' <<<"$cat"
check "catalog has that release by name" jq -e --arg n "debian-$ver" '[.entries[] | select(.name == $n)] | length == 1' <<<"$cat"
check "no -dbg, -unsigned or template entries" jq -e '[.entries[].name | select(test("-dbg$|-unsigned$|-signed-template$"))] | length == 0' <<<"$cat"
check "catalog text lists the names" bash -c '"$1" kernel catalog | grep -q "^debian-cloud-amd64 .*the newest release"' _ "$BANGER"
check "kernel pull completes catalog names" bash -c '"$1" __complete kernel pull debian-cl | grep -qx debian-cloud-amd64' _ "$BANGER"
# The exact release by name: the .deb is already cached (same sha256).
before=$(ls "$BANGER_CACHE_DIR/kernels" | wc -l)
json3=$("$BANGER" kernel pull "debian-$ver" --json 2>"$BANGER_HOME/err") || fail "pull debian-$ver: $(tail -3 "$BANGER_HOME/err")"
check "pull of an exact release from the catalog" jq -e --arg v "$ver" '.version == $v and (.source | contains("linux-image-" + $v))' <<<"$json3"
check "  downloaded nothing new" [ "$(ls "$BANGER_CACHE_DIR/kernels" | wc -l)" -eq "$before" ]
rc=0; "$BANGER" kernel pull debian-0.0.0-1-nosuch-amd64 >/dev/null 2>"$BANGER_HOME/err" || rc=$?
check "pull of a debian- name the index lacks exits 3 naming kernel catalog" bash -c '[ $1 -eq 3 ] && grep -q "banger kernel catalog" "$2"' _ "$rc" "$BANGER_HOME/err"

# Catalogs around the cached .deb: tampered, then good.
deb_sha=$(ls -S "$BANGER_CACHE_DIR/kernels" | head -1)
deb="$BANGER_CACHE_DIR/kernels/$deb_sha"
bad=$(printf 'f%.0s' {1..64})
cat >"$BANGER_HOME/catalog.json" <<JSON
{"kernels": [
 {"name": "deb-tampered", "url": "file://$deb", "sha256": "$bad", "kind": "deb"},
 {"name": "deb-good", "url": "file://$deb", "sha256": "$deb_sha", "kind": "deb", "version": "$ver"}]}
JSON
rc=0; "$BANGER" kernel pull deb-tampered --catalog "$BANGER_HOME/catalog.json" >/dev/null 2>"$BANGER_HOME/err" || rc=$?
tail -1 "$BANGER_HOME/err"
check "tampered catalog entry refused" [ "$rc" -ne 0 ]
check "  naming the sha256 check" grep -q "sha256 mismatch: the catalog says $bad" "$BANGER_HOME/err"
out=$("$BANGER" kernel pull deb-good --catalog "$BANGER_HOME/catalog.json" --json 2>/dev/null) || fail "good deb catalog pull failed"
check "deb catalog entry imports with modules" bash -c 'jq -e ".modules != \"\" and .version == \"$1\"" <<<"$2" >/dev/null' _ "$ver" "$out"
check "no build directories left" bash -c '! ls -a "$1" | grep -q "^\.tmp-"' _ "$KDIR"

# The pulled kernel and its banger initramfs boot a small test root disk under
# QEMU TCG: the agent answers Health and Ports over virtio-serial, and its
# Shutdown makes QEMU exit by itself within 10 s (tests/e2e/agent_boot.sh).
rc=0
out=$(BANGER_TEST_BZIMAGE="$KDIR/$N/bzImage" BANGER_TEST_INITRD="$KDIR/$N/initramfs.cpio.gz" \
        bash "$BANGER_SOURCE_DIR/tests/e2e/agent_boot.sh" "$AGENT" "$BANGER_E2E_INIT" \
        "$BANGER_E2E_TOOL" 2>&1) || rc=$?
echo "$out" | tail -4
check "pulled kernel + banger initramfs boot; agent answers; Shutdown ends QEMU" [ "$rc" -eq 0 ]
finish
