#!/usr/bin/env bash
# `banger kernel import|pull|list|show|delete|ops` against the real processes:
# synthetic bzImage/ELF kernels and module trees, name validation, duplicate
# and concurrent imports, NOT_FOUND, and catalogs (good and tampered).
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_root "banger daemon start starts banger-netsvc"
: "${KERNEL_MKIMAGE:?run through ctest}"
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
need_built "$AGENT" "$KERNEL_MKIMAGE"
export BANGER_AGENT_BINARY="$AGENT"
need_tools e2fsck
new_home
DATA="$BANGER_HOME/data"
mkdir -p "$DATA"
REL=6.1.0-99-test
KDIR="$BANGER_HOME/state/kernels"

"$KERNEL_MKIMAGE" bzimage "$DATA/bzImage" 512
"$KERNEL_MKIMAGE" elf "$DATA/vmlinux"
"$KERNEL_MKIMAGE" modules "$DATA/mods"
echo "initrd bytes" > "$DATA/initrd"

check "daemon start" "$BANGER" daemon start --timeout 20

out=$("$BANGER" kernel list)
check "empty list says how to get a kernel" grep -q "banger kernel pull" <<<"$out"

# Import a bzImage under its reported release.
out=$("$BANGER" kernel import "$DATA/bzImage" 2>"$DATA/err") || fail "import bzImage: $(cat "$DATA/err")"
cat "$DATA/err"
check "import prints the operation id" grep -Eq "^operation [0-9a-f]{16}: kernel.import $REL" "$DATA/err"
check "import progress names stages" grep -q "stage 6/6: publish" "$DATA/err"
check "import names the kernel after its release" grep -q "^name: *$REL" <<<"$out"
check "bzImage kept" test -s "$KDIR/$REL/bzImage"
check "vmlinux extracted is an ELF" bash -c 'head -c4 "$1" | grep -q ELF' _ "$KDIR/$REL/vmlinux"
check "initramfs written (gzip)" bash -c '[ "$(head -c2 "$1" | od -An -tx1 | tr -d " ")" = 1f8b ]' _ "$KDIR/$REL/initramfs.cpio.gz"
check "initramfs is cpio newc with the agent as /init" bash -c 'zcat "$1" | head -c 2000000 | grep -aq "0000000500000000init"' _ "$KDIR/$REL/initramfs.cpio.gz"
check "no modules.ext4 without modules" test ! -e "$KDIR/$REL/modules.ext4"
check "no build directories left" bash -c '! ls -a "$1" | grep -q "^\.tmp-"' _ "$KDIR"

json=$("$BANGER" kernel show "$REL" --json)
check "show --json: version" bash -c 'jq -e ".version == \"$1\" and .format == \"bzimage\" and .compression == \"gzip\"" <<<"$2" >/dev/null' _ "$REL" "$json"
sha=$(sha256sum "$DATA/bzImage" | cut -d' ' -f1)
check "show --json: sha256 of the image" bash -c 'jq -e ".sha256 == \"$1\"" <<<"$2" >/dev/null' _ "$sha" "$json"
check "list shows it" bash -c '"$1" kernel list | grep -Eq "^$2 +$2 +bzimage"' _ "$BANGER" "$REL"
check "list --json is an array of one" bash -c '"$1" kernel list --json | jq -e "length == 1" >/dev/null' _ "$BANGER"

# An ELF with modules, an initrd and an explicit name.
out=$("$BANGER" kernel import "$DATA/vmlinux" --name elf-1 --initrd "$DATA/initrd" \
        --modules "$DATA/mods/lib/modules/$REL" --json 2>"$DATA/err") || fail "import elf: $(cat "$DATA/err")"
check "ELF import: format elf, no bzImage" bash -c 'jq -e ".format == \"elf\" and .bzimage == \"\"" <<<"$1" >/dev/null' _ "$out"
check "ELF import: vmlinux is the file given" cmp -s "$DATA/vmlinux" "$KDIR/elf-1/vmlinux"
check "initrd kept" cmp -s "$DATA/initrd" "$KDIR/elf-1/initrd.img"
check "modules.ext4 passes e2fsck -fn" e2fsck -fn "$KDIR/elf-1/modules.ext4"
check "modules.ext4 holds the tree" bash -c 'debugfs -R "ls -p /kernel/drivers/virtio" "$1" 2>/dev/null | grep -q virtio_mmio.ko.xz' _ "$KDIR/elf-1/modules.ext4"
mods=$(jq -r '.initramfs_modules | join(" ")' <<<"$out")
echo "  initramfs modules: $mods"
check "initramfs modules in dependency order" bash -c '
        m=" $1 "; pos() { local x="${m%% $2 *}"; echo ${#x}; }
        [ $(pos "" kernel/drivers/virtio/virtio.ko) -lt $(pos "" kernel/drivers/virtio/virtio_mmio.ko) ] &&
        [ $(pos "" kernel/fs/jbd2/jbd2.ko) -lt $(pos "" kernel/fs/ext4/ext4.ko) ] &&
        [ $(pos "" kernel/net/vmw_vsock/vsock.ko) -lt $(pos "" kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko) ]' _ "$mods"
check "unwanted modules left out" bash -c '! grep -q unrelated <<<"$1"' _ "$mods"
check "initramfs carries modules.order and the .ko files" bash -c '
        zcat "$1" > "$3"
        grep -aq "lib/banger/modules.order" "$3" && grep -aq "lib/modules/$2/kernel/fs/ext4/ext4.ko" "$3"' _ "$KDIR/elf-1/initramfs.cpio.gz" "$REL" "$DATA/initramfs.cpio"

# Names and arguments are validated.
for bad in "Bad" "-x" "a/b" ".hidden" "$(printf 'a%.0s' {1..65})" "sp ace"; do
        rc=0; "$BANGER" kernel import "$DATA/bzImage" --name "$bad" >/dev/null 2>"$DATA/err" || rc=$?
        check "bad name '$bad' refused with exit 2" [ "$rc" -eq 2 ]
done
check "bad name message explains the rule" grep -q "a-z, 0-9" "$DATA/err"
rc=0; "$BANGER" kernel show "../etc" >/dev/null 2>&1 || rc=$?
check "show of a bad name exits 2" [ "$rc" -eq 2 ]
rc=0; "$BANGER" kernel import "$DATA/nonexistent" >/dev/null 2>&1 || rc=$?
check "import of a missing file exits 3" [ "$rc" -eq 3 ]
rc=0; "$BANGER" kernel import "$DATA/initrd" --name junk >/dev/null 2>"$DATA/err" || rc=$?
check "import of a non-kernel fails (exit 2) and says why" bash -c '[ $1 -eq 2 ] && grep -qi "elf\|bzimage" "$2"' _ "$rc" "$DATA/err"
check "the failed import left nothing behind" bash -c '[ ! -e "$1/junk" ] && ! ls -a "$1" | grep -q "^\.tmp-"' _ "$KDIR"

# A name that exists is refused.
rc=0; "$BANGER" kernel import "$DATA/bzImage" >/dev/null 2>"$DATA/err" || rc=$?
check "importing an existing name exits 4 (ALREADY_EXISTS)" [ "$rc" -eq 4 ]
check "  and says to delete it first" grep -q "delete it first" "$DATA/err"

# Concurrent imports of one name do the work once.
for i in 1 2 3 4 5 6; do
        ( rc=0; "$BANGER" kernel import "$DATA/bzImage" --name conc >/dev/null 2>"$DATA/conc.$i" || rc=$?
          echo $rc >"$DATA/conc.$i.rc" ) &
done
wait
ok=0
for i in 1 2 3 4 5 6; do
        rc=$(cat "$DATA/conc.$i.rc")
        [ "$rc" -eq 0 ] && ok=$((ok + 1))
        [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ] || fail "concurrent import $i exited $rc: $(cat "$DATA/conc.$i")"
done
check "at least one concurrent import succeeded" [ "$ok" -ge 1 ]
ids=$(cat "$DATA"/conc.? | grep -Eo "^operation [0-9a-f]{16}" | sort -u | wc -l)
check "all successful concurrent imports shared one operation" [ "$ids" -le 1 ]
n=$("$BANGER" kernel ops --all --json | jq '[.[] | select(.kind == "kernel.import" and .target == "conc")] | length')
check "exactly one import operation ran for the name (got $n)" [ "$n" -eq 1 ]

# Catalogs: a good entry, a tampered one, a broken catalog.
cat >"$DATA/catalog.json" <<JSON
[{"name": "good", "url": "file://$DATA/bzImage", "sha256": "$sha", "kind": "bzimage"},
 {"name": "tampered", "url": "file://$DATA/bzImage", "sha256": "$(printf '0%.0s' {1..64})", "kind": "bzimage"}]
JSON
out=$("$BANGER" kernel pull good --catalog "$DATA/catalog.json" --json 2>"$DATA/err") || fail "catalog pull: $(cat "$DATA/err")"
check "catalog pull imports the entry" bash -c 'jq -e ".name == \"good\" and .sha256 == \"$1\"" <<<"$2" >/dev/null' _ "$sha" "$out"
check "catalog download cached by sha256" test -s "$BANGER_HOME/cache/kernels/$sha"
rc=0; "$BANGER" kernel pull tampered --catalog "file://$DATA/catalog.json" >/dev/null 2>"$DATA/err" || rc=$?
cat "$DATA/err" | tail -1
check "tampered catalog entry refused (exit 2)" [ "$rc" -eq 2 ]
check "  naming the failed check" grep -q "sha256 mismatch: the catalog says 0000" "$DATA/err"
check "  and nothing was kept" bash -c '[ ! -e "$1/tampered" ] && "$2" kernel show tampered >/dev/null 2>&1; [ $? -eq 3 ]' _ "$KDIR" "$BANGER"
echo '[{"name": "x", "url": "ftp://example.com/k", "sha256": "'"$sha"'"}]' >"$DATA/bad.json"
rc=0; "$BANGER" kernel pull x --catalog "$DATA/bad.json" >/dev/null 2>"$DATA/err" || rc=$?
check "catalog with an ftp URL refused (exit 2)" bash -c '[ $1 -eq 2 ] && grep -q "not http" "$2"' _ "$rc" "$DATA/err"
rc=0; "$BANGER" kernel pull nosuch >/dev/null 2>"$DATA/err" || rc=$?
check "pull of a name not in the built-in catalog exits 3" bash -c '[ $1 -eq 3 ] && grep -q debian-cloud-amd64 "$2"' _ "$rc" "$DATA/err"
rc=0; "$BANGER" kernel pull debian-6.1.0-28-cloud-amd64-dbg >/dev/null 2>"$DATA/err" || rc=$?
check "pull of a debug package's name refused at once (exit 3), pointing at kernel catalog" bash -c '[ $1 -eq 3 ] && grep -q "banger kernel catalog" "$2"' _ "$rc" "$DATA/err"
rc=0; "$BANGER" kernel pull good --catalog "ftp://x/y" >/dev/null 2>&1 || rc=$?
check "ftp catalog URL refused with exit 2" [ "$rc" -eq 2 ]

# Ctrl-C cancels a running download and leaves no partial file behind.
start_slow_server "$DATA" || fail_stop "the slow HTTP server did not start within 30 s"
"$BANGER" kernel pull slow --catalog "$DATA/slow.json" >/dev/null 2>"$DATA/slow.err" &
cli=$!
check "slow pull reaches the download stage" wait_for 10 grep -q "download: [1-9]" "$DATA/slow.err"
kill -INT "$cli"
rc=0; wait "$cli" || rc=$?
kill "$SLOW_PID" 2>/dev/null || true
cat "$DATA/slow.err" | tail -2
check "Ctrl-C: the CLI exits 130 (CANCELLED)" [ "$rc" -eq 130 ]
st=$("$BANGER" kernel ops --all --json | jq -r '.[] | select(.target == "slow") | .status')
check "the operation ended CANCELLED (got $st)" [ "$st" = CANCELLED ]
check "no partial download left in the cache" bash -c '! ls "$1" | grep -q "download\|part"' _ "$BANGER_HOME/cache/kernels"
check "no build directory left" bash -c '! ls -a "$1" | grep -q "^\.tmp-"' _ "$KDIR"

# Delete.
rc=0; "$BANGER" kernel delete nosuch >/dev/null 2>"$DATA/err" || rc=$?
check "delete of a missing kernel exits 3 (NOT_FOUND)" bash -c '[ $1 -eq 3 ] && grep -q "not found" "$2"' _ "$rc" "$DATA/err"
# While vmsvc cannot be asked whether a VM uses the kernel, it is not deleted.
kill -9 "$(svc_pid vmsvc)"
rc=0; "$BANGER" kernel delete "$REL" >/dev/null 2>"$DATA/err" || rc=$?
check "delete while vmsvc is down is refused (exit 5) and says why" bash -c '[ $1 -eq 5 ] && grep -q "vmsvc does not answer" "$2"' _ "$rc" "$DATA/err"
check "  and the kernel is still there" "$BANGER" kernel show "$REL"
check "daemon start brings vmsvc back" "$BANGER" daemon start
check "delete works" "$BANGER" kernel delete "$REL"
check "deleted kernel's directory is gone" test ! -e "$KDIR/$REL"
rc=0; "$BANGER" kernel show "$REL" >/dev/null 2>&1 || rc=$?
check "show after delete exits 3" [ "$rc" -eq 3 ]
check "the name can be imported again" bash -c '"$1" kernel import "$2" >/dev/null 2>&1' _ "$BANGER" "$DATA/bzImage"

# A restart cleans leftovers of a crash: a .tmp- build dir and an orphan dir.
mkdir -p "$KDIR/.tmp-crash/x" "$KDIR/orphan"
kill -9 "$(svc_pid imagesvc)"
check "imagesvc seen DOWN" wait_for 5 bash -c '"$1" status | grep -Eq "^imagesvc +DOWN"' _ "$BANGER"
check "imagesvc restarts" "$BANGER" daemon start --timeout 20
check "crash leftovers removed at start" bash -c '[ ! -e "$1/.tmp-crash" ] && [ ! -e "$1/orphan" ]' _ "$KDIR"
check "kernels survive the restart" bash -c '"$1" kernel show elf-1 >/dev/null' _ "$BANGER"

finish
