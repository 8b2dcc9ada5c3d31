#!/usr/bin/env bash
# Issue #21 item 2, against the real processes (no VM boots, no KVM):
#   - image register NAME --rootfs FILE --kernel K: an ext4 file streamed in
#     (not opened by imagesvc), checked, published; a file that is not ext4
#     is refused and leaves nothing behind;
#   - image export -o FILE.tar.zst → delete → import: the same bytes come
#     back (manifest sizes and sha256 checked), with the kernel reference;
#     a tampered bundle (wrong sha256, an extra entry) is refused and leaves
#     no file and no row;
#   - image catalog [list] and image pull --catalog from a local HTTP server
#     (python3 -m http.server): the bundle's sha256 is checked against the
#     catalog, a lying entry is refused;
#   - image promote VM NAME on a VM made with vm create --no-start: the VM
#     keeps its disk, the new image is a copy; an unknown VM is NOT_FOUND;
#   - vm create without --kernel takes the kernel the image records (before
#     config vm.default_kernel); --kernel still wins; a recorded kernel that
#     is not here and cannot be pulled fails naming the image and the kernel;
#   - image import cancelled in its unpack stage (Ctrl-C: CancelOperation)
#     leaves no image row, no file, no temp directory, and the same bundle
#     imports afterwards.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
: "${KERNEL_MKIMAGE:?run through ctest}"
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
need_built "$AGENT" "$KERNEL_MKIMAGE"
need_tools mkfs.ext4 debugfs jq zstd tar python3 sha256sum curl
export BANGER_AGENT_BINARY="$AGENT"

new_home
W="$BANGER_HOME/w"
mkdir -p "$W/www"
HTTP_PID=""
cleanup() {
        local rc=$?
        [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
        wait 2>/dev/null
        cleanup_home
        exit $rc
}
trap cleanup EXIT
IMAGES="$BANGER_HOME/state/images"
no_leftovers() { ! ls -A "$IMAGES" | grep '^\.tmp-' >&2; }

# A small root file system: init, sshd (both executables), a /root dotfile.
mkdir -p "$W/tree/sbin" "$W/tree/usr/sbin" "$W/tree/root" "$W/tree/etc"
printf '#!/bin/sh\n' > "$W/tree/sbin/init"
printf '#!/bin/sh\n' > "$W/tree/usr/sbin/sshd"
chmod 755 "$W/tree/sbin/init" "$W/tree/usr/sbin/sshd"
echo "hello from the tree" > "$W/tree/etc/motd"
echo "alias ll='ls -l'" > "$W/tree/root/.bashrc"
mkfs.ext4 -q -F -L tree -d "$W/tree" "$W/root.ext4" 64M >/dev/null || setup_fail "mkfs.ext4 -d failed"
head -c 3000000 /dev/urandom > "$W/notext4"

# The catalog server: one good entry, one whose sha256 lies.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$W/www" && exec python3 -m http.server --bind 127.0.0.1 "$PORT" >/dev/null 2>&1) &
HTTP_PID=$!
mkdir -p "$BANGER_HOME/config"
printf '[image]\ncatalog_url = "http://127.0.0.1:%s/catalog.json"\n[vm]\ndefault_kernel = "kdef"\n' "$PORT" > "$BANGER_HOME/config/config.toml"

"$KERNEL_MKIMAGE" bzimage "$W/bzImage" 512
check "daemon start" "$BANGER" daemon start --timeout 20
"$BANGER" kernel import "$W/bzImage" --name k1 >/dev/null 2>"$W/err" || fail_stop "kernel import: $(cat "$W/err")"
"$BANGER" kernel import "$W/bzImage" --name kdef >/dev/null 2>"$W/err" || fail_stop "kernel import: $(cat "$W/err")"

# 1. register
rc=0; "$BANGER" image register base --rootfs "$W/root.ext4" --kernel k1 --json >"$W/reg.json" 2>"$W/err" || rc=$?
check "register an ext4 file" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "the registered image has init, sshd and its kernel" jq -e '.has_init and .has_sshd and .kernel == "k1"' "$W/reg.json"
check "image show --json names the kernel" bash -c '"$1" image show base --json | jq -e ".kernel == \"k1\"" >/dev/null' _ "$BANGER"
check "the guest agent was installed" bash -c 'debugfs -R "stat /usr/sbin/banger-agent" "$1" 2>/dev/null | grep -q "Type: regular"' _ "$IMAGES/base/rootfs.ext4"
check "the image holds the tree's files" bash -c '[ "$(debugfs -R "cat /etc/motd" "$1" 2>/dev/null)" = "hello from the tree" ]' _ "$IMAGES/base/rootfs.ext4"
check "the image's /root became its work seed" test -s "$IMAGES/base/work-seed.ext4"
check "the image is a copy: the source file is untouched" bash -c '! debugfs -R "ls /etc" "$1" 2>/dev/null | grep -q ssh_host' _ "$W/root.ext4"
rc=0; "$BANGER" image register junk --rootfs "$W/notext4" >/dev/null 2>"$W/err" || rc=$?
check "a file that is not ext4 is refused (got $rc)" [ "$rc" -ne 0 ]
check "the error says it is not ext4" grep -q "not a usable ext4 file system" "$W/err"
check "no image junk" bash -c '! "$1" image show junk >/dev/null 2>&1' _ "$BANGER"
check "nothing left behind by the refused register" no_leftovers
rc=0; "$BANGER" image register x2 --rootfs "$W/root.ext4" --kernel nosuch >/dev/null 2>"$W/err" || rc=$?
check "register --kernel of an unknown kernel exits 3 (got $rc)" [ "$rc" -eq 3 ]
rc=0; "$BANGER" image register x3 --rootfs "$W/nosuchfile" >/dev/null 2>"$W/err" || rc=$?
check "register of a missing file fails naming it" bash -c '[ "$1" -ne 0 ] && grep -q "cannot read" "$2"' _ "$rc" "$W/err"

# 2. export → delete → import
rc=0; "$BANGER" image export base -o "$W/base.tar.zst" --json >"$W/exp.json" 2>"$W/err" || rc=$?
check "export" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "export --json gives the bundle's sha256" bash -c '[ "$(jq -r .sha256 "$1")" = "$(sha256sum "$2" | cut -d" " -f1)" ]' _ "$W/exp.json" "$W/base.tar.zst"
check "the bundle holds manifest.json then rootfs.ext4, nothing else" bash -c '[ "$(zstd -dc "$1" | tar -t | tr "\n" " ")" = "manifest.json rootfs.ext4 " ]' _ "$W/base.tar.zst"
zstd -dc "$W/base.tar.zst" | tar -xO manifest.json > "$W/manifest.json"
rootsum=$(sha256sum "$IMAGES/base/rootfs.ext4" | cut -d' ' -f1)
check "the manifest: format, version, name, kernel, rootfs size and sha256" jq -e --arg s "$rootsum" --argjson z "$(stat -c %s "$IMAGES/base/rootfs.ext4")" \
        '.format == "banger-image-bundle" and .version == 1 and .name == "base" and .kernel == "k1" and (.files | length) == 1 and .files[0].path == "rootfs.ext4" and .files[0].sha256 == $s and .files[0].size == $z' "$W/manifest.json"
check "no export spool is left after the download" no_leftovers
check "delete base" "$BANGER" image delete base
rc=0; "$BANGER" image import "$W/base.tar.zst" --json >"$W/imp.json" 2>"$W/err" || rc=$?
check "import" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "import brings back the name and the kernel" jq -e '.name == "base" and .kernel == "k1" and .has_init' "$W/imp.json"
check "the imported image holds the tree's files" bash -c '[ "$(debugfs -R "cat /etc/motd" "$1" 2>/dev/null)" = "hello from the tree" ]' _ "$IMAGES/base/rootfs.ext4"
rc=0; "$BANGER" image import "$W/base.tar.zst" >/dev/null 2>"$W/err" || rc=$?
check "importing over an existing name exits 4 (got $rc)" [ "$rc" -eq 4 ]
check "import --name gives another name" bash -c '"$1" image import "$2" --name base2 --json | jq -e ".name == \"base2\"" >/dev/null' _ "$BANGER" "$W/base.tar.zst"

# Hostile bundles: a manifest whose sha256 lies, an extra entry.
mkdir -p "$W/evil"
zstd -dc "$W/base.tar.zst" | tar -x -C "$W/evil"
jq '.files[0].sha256 = "0000000000000000000000000000000000000000000000000000000000000000"' "$W/evil/manifest.json" > "$W/evil/m2" && mv "$W/evil/m2" "$W/evil/manifest.json"
(cd "$W/evil" && tar --format=ustar -c manifest.json rootfs.ext4) | zstd -q -c > "$W/badsum.tar.zst"
rc=0; "$BANGER" image import "$W/badsum.tar.zst" --name evil1 >/dev/null 2>"$W/err" || rc=$?
check "a bundle whose sha256 lies is refused (got $rc)" [ "$rc" -ne 0 ]
check "the error says sha256 mismatch" grep -q "sha256 mismatch" "$W/err"
zstd -dc "$W/base.tar.zst" | tar -x -C "$W/evil"
echo 'echo pwned' > "$W/evil/evil.sh"
(cd "$W/evil" && tar --format=ustar -c manifest.json rootfs.ext4 evil.sh) | zstd -q -c > "$W/extra.tar.zst"
rc=0; "$BANGER" image import "$W/extra.tar.zst" --name evil2 >/dev/null 2>"$W/err" || rc=$?
check "a bundle with an extra entry is refused" grep -q "not in its manifest" "$W/err"
check "no image evil1/evil2" bash -c '! "$1" image show evil1 >/dev/null 2>&1 && ! "$1" image show evil2 >/dev/null 2>&1' _ "$BANGER"
check "nothing left behind by the refused imports" no_leftovers

# 3. catalog
cp "$W/base.tar.zst" "$W/www/base.tar.zst"
sum=$(sha256sum "$W/base.tar.zst" | cut -d' ' -f1)
size=$(stat -c %s "$W/base.tar.zst")
cat > "$W/www/catalog.json" <<EOF
[{"name": "cat-base", "url": "http://127.0.0.1:$PORT/base.tar.zst", "sha256": "$sum", "size": $size, "description": "the test image"},
 {"name": "liar", "url": "http://127.0.0.1:$PORT/base.tar.zst", "sha256": "1111111111111111111111111111111111111111111111111111111111111111"}]
EOF
wait_for 5 curl -fsS -o /dev/null "http://127.0.0.1:$PORT/catalog.json" || fail_stop "the catalog server did not start"
check "image catalog lists both entries" bash -c '"$1" image catalog --json | jq -e "length == 2 and .[0].name == \"cat-base\" and .[0].size == $2" >/dev/null' _ "$BANGER" "$size"
check "image catalog list prints a table" bash -c '"$1" image catalog list | grep -q "^cat-base .*the test image"' _ "$BANGER"
rc=0; "$BANGER" image pull --catalog cat-base --json >"$W/pull.json" 2>"$W/err" || rc=$?
check "pull --catalog" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "the pulled image is named after the entry and has the kernel" jq -e '.name == "cat-base" and .kernel == "k1"' "$W/pull.json"
check "the pulled image has the same root file system" bash -c '[ "$(debugfs -R "cat /etc/motd" "$1" 2>/dev/null)" = "hello from the tree" ]' _ "$IMAGES/cat-base/rootfs.ext4"
rc=0; "$BANGER" image pull --catalog liar >/dev/null 2>"$W/err" || rc=$?
check "an entry whose sha256 lies is refused (got $rc)" [ "$rc" -ne 0 ]
check "the error names the mismatch" grep -q "sha256 mismatch: the catalog says 1111" "$W/err"
check "no image liar" bash -c '! "$1" image show liar >/dev/null 2>&1' _ "$BANGER"
rc=0; "$BANGER" image pull --catalog nosuch >/dev/null 2>"$W/err" || rc=$?
check "an unknown entry is NOT_FOUND (got $rc)" [ "$rc" -eq 3 ]
rc=0; "$BANGER" image catalog --catalog-url "file://$W/www/catalog.json" >/dev/null 2>"$W/err" || rc=$?
check "a file:// catalog from the command line is refused" grep -q "must be http:// or https://" "$W/err"
check "nothing left behind by the catalog pulls" no_leftovers

# 4. promote a VM made with --no-start
rc=0; "$BANGER" vm create --image base --kernel k1 --no-start --name p1 >/dev/null 2>"$W/err" || rc=$?
check "vm create --no-start" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
root=$("$BANGER" vm show p1 --json | jq -r .root_disk_path)
check "vm show names the VM's root disk" test -f "$root"
before=$(sha256sum "$root" | cut -d' ' -f1)
rc=0; "$BANGER" image promote p1 promoted --json >"$W/prom.json" 2>"$W/err" || rc=$?
check "promote a stopped VM" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "the promoted image has init and the VM's kernel" jq -e '.name == "promoted" and .has_init and .kernel == "k1" and (.ref | startswith("vm:p1"))' "$W/prom.json"
check "the promoted image has the VM's files" bash -c '[ "$(debugfs -R "cat /etc/motd" "$1" 2>/dev/null)" = "hello from the tree" ]' _ "$IMAGES/promoted/rootfs.ext4"
check "the VM keeps its root disk, unchanged" bash -c '[ "$(sha256sum "$1" | cut -d" " -f1)" = "$2" ]' _ "$root" "$before"
check "the VM is still there, stopped" bash -c '"$1" vm show p1 --json | jq -e ".state == \"stopped\"" >/dev/null' _ "$BANGER"
check "a VM can be made from the promoted image" "$BANGER" vm create --image promoted --kernel k1 --no-start --name p2
rc=0; "$BANGER" image promote nosuchvm x >/dev/null 2>"$W/err" || rc=$?
check "promote of an unknown VM exits 3 (got $rc)" [ "$rc" -eq 3 ]
rc=0; "$BANGER" image promote p1 promoted >/dev/null 2>"$W/err" || rc=$?
check "promote to an existing name exits 4 (got $rc)" [ "$rc" -eq 4 ]
check "nothing left behind by promote" no_leftovers

# 5. vm create without --kernel: the kernel the image records, else the
#    config's vm.default_kernel (kdef here); --kernel wins.
vm_kernel() { "$BANGER" vm show "$1" --json | jq -r .kernel; }
rc=0; "$BANGER" vm create --image base --no-start --name rk1 >/dev/null 2>"$W/err" || rc=$?
check "vm create --image base (records k1), no --kernel" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "the VM got the image's kernel k1 (got $(vm_kernel rk1))" [ "$(vm_kernel rk1)" = k1 ]
check "vm create --image base --kernel kdef" "$BANGER" vm create --image base --kernel kdef --no-start --name rk2
check "an explicit --kernel wins over the recorded one (got $(vm_kernel rk2))" [ "$(vm_kernel rk2)" = kdef ]
check "register an image with no kernel" "$BANGER" image register nok --rootfs "$W/root.ext4"
check "vm create --image nok, no --kernel" "$BANGER" vm create --image nok --no-start --name rk3
check "an image with no kernel gets config vm.default_kernel (got $(vm_kernel rk3))" [ "$(vm_kernel rk3)" = kdef ]
# A bundle that records a kernel this host does not have (and no catalog has).
mkdir -p "$W/gone"
zstd -dc "$W/base.tar.zst" | tar -x -C "$W/gone"
jq '.kernel = "gone-kernel"' "$W/gone/manifest.json" > "$W/gone/m2" && mv "$W/gone/m2" "$W/gone/manifest.json"
(cd "$W/gone" && tar --format=ustar -c manifest.json rootfs.ext4) | zstd -q -c > "$W/gone.tar.zst"
check "import a bundle that records kernel gone-kernel" "$BANGER" image import "$W/gone.tar.zst" --name gonek
nvms=$("$BANGER" vm list --json | jq length)
rc=0; "$BANGER" vm create --image gonek --no-start --name rk4 >/dev/null 2>"$W/err" || rc=$?
check "a missing recorded kernel that cannot be pulled fails (got $rc)" [ "$rc" -ne 0 ]
check "the error names the kernel and the image" grep -q "kernel gone-kernel (recorded for image gonek) is not here and cannot be pulled" "$W/err" || cat "$W/err" >&2
check "no VM row for it" [ "$("$BANGER" vm list --json | jq length)" -eq "$nvms" ]
check "--kernel still makes a VM from that image" "$BANGER" vm create --image gonek --kernel k1 --no-start --name rk5

# 6. image import cancelled in its unpack stage. A 3 GiB root file system
#    that is mostly holes: a small bundle, a long unpack (every byte is
#    decompressed and hashed).
mkdir -p "$W/big"
mkfs.ext4 -q -F -L big -d "$W/tree" "$W/big/rootfs.ext4" 3000M >/dev/null || setup_fail "mkfs.ext4 of the big image failed"
bigsum=$(sha256sum "$W/big/rootfs.ext4" | cut -d' ' -f1)
jq --arg s "$bigsum" --argjson z "$(stat -c %s "$W/big/rootfs.ext4")" \
        '.name = "big" | .files[0].sha256 = $s | .files[0].size = $z' "$W/manifest.json" > "$W/big/manifest.json"
(cd "$W/big" && tar --format=ustar -c manifest.json rootfs.ext4) | zstd -q -1 -c > "$W/big.tar.zst"
rm -f "$W/big/rootfs.ext4"
in_unpack() { grep -q "stage 1/3: unpack" "$1"; }
"$BANGER" image import "$W/big.tar.zst" >/dev/null 2>"$W/cancel.err" &
cli=$!
if wait_for 120 in_unpack "$W/cancel.err"; then
        kill -INT "$cli"
        rc=0; wait "$cli" || rc=$?
        echo "  $(tail -2 "$W/cancel.err" | tr '\n' ' ')"
        check "Ctrl-C during the unpack: the CLI exits 130 (got $rc)" [ "$rc" -eq 130 ]
        check "the import operation ended cancelled" bash -c '"$1" ops --all --json | jq -e "[.[] | select(.kind == \"image.import\" and .state == \"CANCELLED\")] | length == 1" >/dev/null' _ "$BANGER"
        check "no image row big" bash -c '! "$1" image show big >/dev/null 2>&1' _ "$BANGER"
        check "no directory big under images" [ ! -e "$IMAGES/big" ]
        check "no temp directory or upload spool left" wait_for 10 no_leftovers
else
        kill "$cli" 2>/dev/null || true
        wait "$cli" 2>/dev/null || true
        fail "the import never reached its unpack stage: $(tail -3 "$W/cancel.err")"
fi
rc=0; "$BANGER" image import "$W/big.tar.zst" --json >"$W/big.json" 2>"$W/err" || rc=$?
check "the same bundle imports after the cancel" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err" >&2
check "the image is big, with kernel k1" jq -e '.name == "big" and .kernel == "k1"' "$W/big.json"
check "its root file system holds the tree's files" bash -c '[ "$(debugfs -R "cat /etc/motd" "$1" 2>/dev/null)" = "hello from the tree" ]' _ "$IMAGES/big/rootfs.ext4"
check "nothing left behind by the imports" no_leftovers

finish
