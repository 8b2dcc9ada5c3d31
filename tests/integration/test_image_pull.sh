#!/usr/bin/env bash
# `banger image pull` end to end through the real processes (banger-imagesvc +
# banger-gateway in a fresh BANGER_HOME) against Debian's docker-registry on
# loopback, with images built by oci_layout_tool and pushed with skopeo.
#
#   test_image_pull.sh [full]   (label integration)
#     pull by tag (default name) and by digest; show --json ref/digest/init/
#     sshd; e2fsck -fn; guest files installed and ssh host keys removed; a
#     second name downloads nothing; re-pull of an unchanged name is a no-op;
#     a changed digest under an existing name is ALREADY_EXISTS; a corrupted
#     blob in the registry storage is refused and publishes nothing; kill -9
#     of banger-imagesvc mid-pull of a 150 MiB layer, restart, pull again,
#     no .tmp-* left; cache prune --dry-run / prune (refused during a pull);
#     SIGINT to the CLI mid-pull cancels and leaves nothing behind.
#   test_image_pull.sh content  (label root)
#     the same kind of image (whiteouts, opaque dirs, hard links, setuid,
#     security.capability and user.* xattrs, devices, symlinks, real binaries)
#     unpacked by `umoci unpack` vs the banger ext4 mounted read-only through
#     a loop device, compared entry by entry by compare_rootfs.py.
. "$(dirname "$0")/testlib.sh"
MODE=${1:-full}
HERE=$(cd "$(dirname "$0")" && pwd)
LAYOUT="$BANGER_BUILD_DIR/tests/oci_layout_tool"
REGISTRY=/usr/bin/docker-registry
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
GUEST_FILES="$BANGER_BUILD_DIR/share/banger/guest-files"
PATH=$PATH:/sbin:/usr/sbin

need_built "$LAYOUT" "$AGENT" "$GUEST_FILES"
[ -x "$REGISTRY" ] || setup_fail "$REGISTRY is missing (package docker-registry; scripts/install-deps.sh installs it)"
need_tools skopeo jq curl e2fsck debugfs sha256sum tar
if [ "$MODE" = content ]; then
        need_root "the content check runs umoci unpack and mounts the image through a loop device"
        need_tools umoci python3 losetup
        [ -e /dev/loop-control ] || skip no-loop "this kernel has no loop devices (/dev/loop-control)"
        losetup -f >/dev/null 2>&1 || setup_fail "no free loop device (losetup -f; one leaked by an earlier run?)"
fi
export BANGER_AGENT_BINARY="$AGENT"

new_home
W="$BANGER_HOME/w"
mkdir -p "$W"
export BANGER_CACHE_DIR="$BANGER_HOME/cache"
BLOBS="$BANGER_CACHE_DIR/oci/blobs/sha256"
IMAGES="$BANGER_HOME/state/images"
LOG="$BANGER_HOME/imagesvc.log"
REG_PID=""
SVC_PID=""
GW_PID=""
MNT=""
cleanup() {
        local rc=$?
        if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || umount -l "$MNT"; fi
        [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
        [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null
        [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null
        wait 2>/dev/null
        cleanup_home
        exit $rc
}
trap cleanup EXIT

# ---- registry -----------------------------------------------------------------
. "$HERE/registry_lib.sh"
registry_up "$W"
push() { registry_push "$@"; } # push LAYOUT:TAG REPO:TAG
remote_digest() { skopeo --policy "$W/policy.json" inspect --tls-verify=false "docker://$R/$1" | jq -r .Digest; }
# remote_layer REPO:TAG N: digest of layer N as the registry stores it (skopeo
# compresses plain tar layers on push, so not always the layout's digest)
remote_layer() {
        skopeo --policy "$W/policy.json" inspect --raw --tls-verify=false "docker://$R/$1" |
                jq -r ".layers[$2].digest"
}
registry_blob() { find "$W/registry" -path "*/blobs/sha256/*/${1#sha256:}/data"; }

# ---- services -----------------------------------------------------------------
start_imagesvc() {
        "$BIN/banger-imagesvc" --owner-uid 0 >>"$LOG" 2>&1 &
        SVC_PID=$!
        wait_for 10 "$BANGER" image list >/dev/null
}
"$BIN/banger-gateway" --owner-uid 0 >"$BANGER_HOME/gateway.log" 2>&1 &
GW_PID=$!
check "imagesvc and gateway up" start_imagesvc

# pulled_line NAME: the service's summary line of the last pull of NAME
pulled_line() { grep "image $1 pulled from " "$LOG" | tail -1; }
downloaded() { pulled_line "$1" | sed -n 's/.*: \([0-9]*\) blobs downloaded (\([0-9]*\) bytes), \([0-9]*\) from cache.*/\1 \2 \3/p'; }
no_tmp() { ! find "$@" -name '.tmp-*' 2>/dev/null | grep -q .; }
not_listed() { ! "$BANGER" image show "$1" >/dev/null 2>&1 && [ ! -e "$IMAGES/$1" ]; }
show() { "$BANGER" image show "$1" --json; }
dbg() { debugfs -R "$1" "$2" 2>/dev/null; }
absent() { debugfs -R "stat $1" "$2" 2>&1 | grep -q 'File not found'; }

# ---- a small multi-layer image --------------------------------------------------
# base (gzip): the usual suspects; upper (zstd): whiteouts, an opaque dir, a
# replaced file, sshd; third (plain tar): a whiteout of a whole tree and a
# hard link across layers.
write_specs() { # write_specs DIR CAPVALUE
        cat > "$1/base.spec" <<S
dir etc 0755 0 0
file etc/hostname 0644 0 0 base
file etc/shadow 0640 0 42 secret
dir etc/ssh 0755 0 0
file etc/ssh/sshd_config 0644 0 0 Include /etc/ssh/sshd_config.d/*.conf
file etc/ssh/ssh_host_ed25519_key 0600 0 0 PRIVATE-ED25519
file etc/ssh/ssh_host_ed25519_key.pub 0644 0 0 ssh-ed25519 AAAAtest
file etc/ssh/ssh_host_rsa_key 0600 0 0 PRIVATE-RSA
dir sbin 0755 0 0
file sbin/init 0755 0 0 #!init
dir usr 0755 0 0
dir usr/bin 0755 0 0
file usr/bin/ping 04755 0 0 ELF-ping
$( [ -n "$2" ] && echo "xattr security.capability $2" )
xattr user.note hello
hardlink usr/bin/ping6 usr/bin/ping
file usr/bin/newgrp 02755 0 5 ELF-newgrp
symlink bin usr/bin
symlink etc/localtime /usr/share/zoneinfo/UTC
symlink etc/dangling ../nowhere
dir tmp 01777 0 0
dir root 0700 0 0
file root/.bashrc 0644 0 0 PS1=x
chr dev/null 1 3
blk dev/vda 254 0
fifo run/initctl
dir opq 0755 0 0
file opq/lower 0644 0 0 lower
dir opq/sub 0700 1000 1000
file opq/sub/deep 0600 1000 1000 deep
file gone/deep/x 0644 0 0 x
dir home/user 0750 1000 1000
file home/user/.profile 0644 1000 1000 export PS1=x
file home/user/notes 0600 1000 1000 notes
hardlink home/user/notes.link home/user/notes
S
        cat > "$1/upper.spec" <<'S'
file etc/.wh.shadow 0644 0 0
file .wh.gone 0644 0 0
dir opq 0711 0 0
file opq/.wh..wh..opq 0644 0 0
file opq/upper 0644 1000 1000 upper
file etc/hostname 0644 0 0 upper
dir usr/sbin 0755 0 0
file usr/sbin/sshd 0755 0 0 ELF-sshd
xattr user.origin layer-2
S
        cat > "$1/third.spec" <<'S'
file home/user/.wh.notes.link 0644 0 0
hardlink usr/bin/ping4 usr/bin/ping
file etc/motd 0644 0 0 welcome
S
}

if [ "$MODE" = content ]; then
        # A host tree for a fourth layer: real binaries, a valid
        # security.capability (cap_net_raw+ep, VFS_CAP_REVISION_2), user.*
        # xattrs, odd owners and modes, a 1 MiB random file, long and spaced
        # names. Hard links within it are not kept by the layout tool.
        T="$W/tree"
        mkdir -p "$T/bin" "$T/data" "$T/sgid" "$T/sticky" "$T/empty"
        cp /usr/bin/ls /usr/bin/env "$T/bin/"
        cp /usr/bin/ls "$T/bin/pinger"
        chmod 0755 "$T/bin/pinger"
        python3 -c 'import os,struct,sys; os.setxattr(sys.argv[1], "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))' "$T/bin/pinger"
        echo note > "$T/data/note"
        python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.comment", b"a comment")' "$T/data/note"
        head -c 1048576 /dev/urandom > "$T/data/random.bin"
        : > "$T/data/empty"
        echo spaced > "$T/data/with space"
        echo long > "$T/data/$(printf 'l%.0s' $(seq 200))"
        echo secret > "$T/data/nobody"
        chown 65534:65534 "$T/data/nobody"
        chmod 0600 "$T/data/nobody"
        chown 1000:50 "$T/sgid"
        chmod 02775 "$T/sgid"
        chmod 01777 "$T/sticky"
        ln -s ../bin/ls "$T/bin/ls-rel"
        ln -s /usr/bin/ls "$T/bin/ls-abs"
        printf 'tree %s opt/real\n' "$T" > "$W/tree.spec"
        printf 'file opt/real/bin/.wh.env 0644 0 0\nfile opt/real/empty/.wh..wh..opq 0644 0 0\nfile opt/real/empty/new 0644 0 0 new\n' > "$W/fifth.spec"
        write_specs "$W" ""
        "$LAYOUT" "$W/content" v1 --platform linux/amd64 --layer "$W/base.spec:gz" \
                --layer "$W/upper.spec:gz" --layer "$W/third.spec:tar" --layer "$W/tree.spec:gz" \
                --layer "$W/fifth.spec:tar"
        push content:v1 test/content:v1
        out=$("$BANGER" image pull "$R/test/content:v1" --json 2>"$W/err") ||
                { fail "pull: $(tail -3 "$W/err")"; finish; exit 1; }
        pass "pulled $R/test/content:v1"
        rootfs=$(jq -r .rootfs <<<"$out")
        check "e2fsck -fn is clean" e2fsck -fn "$rootfs"
        umoci unpack --image "$W/content:v1" "$W/bundle" > "$W/umoci.log" 2>&1 ||
                { fail "umoci unpack: $(tail -3 "$W/umoci.log")"; finish; exit 1; }
        MNT="$W/mnt"
        mkdir -p "$MNT"
        mount -o ro,loop "$rootfs" "$MNT" || { fail "mount -o ro,loop $rootfs"; finish; exit 1; }
        if python3 "$HERE/compare_rootfs.py" "$W/bundle/rootfs" "$MNT" --guest-files "$GUEST_FILES" \
                > "$W/compare.out" 2>&1; then
                pass "umoci unpack and the banger image match entry by entry"
        else
                fail "umoci unpack and the banger image differ"
        fi
        sed 's/^/  /' "$W/compare.out" | head -60
        # The comparer itself must see differences when there are some: the
        # same reference against a copy with a setuid bit dropped, an xattr
        # removed and a hard link broken.
        cp -a "$W/bundle/rootfs" "$W/mutant"
        chmod u-s "$W/mutant/usr/bin/ping"
        python3 -c 'import os,sys; os.removexattr(sys.argv[1], "user.origin")' "$W/mutant/usr/sbin/sshd"
        cp --remove-destination "$W/mutant/usr/bin/ping" "$W/mutant/usr/bin/ping4"
        python3 "$HERE/compare_rootfs.py" "$W/bundle/rootfs" "$W/mutant" > "$W/mutant.out" || true
        grep "^DIFF" "$W/mutant.out" | sed "s/^/  mutant: /"
        check "the comparer notices a dropped setuid bit" grep -q "^DIFF usr/bin/ping: mode '4755' (reference) != '0755'" "$W/mutant.out"
        check "the comparer notices a missing xattr" grep -q "^DIFF usr/sbin/sshd: xattrs" "$W/mutant.out"
        check "the comparer notices a broken hard link" grep -q "^DIFF hard link group only in the reference" "$W/mutant.out"
        umount "$MNT"
        MNT=""
        finish
        exit
fi

# ---- full mode ----------------------------------------------------------------------
write_specs "$W" cap-bytes
"$LAYOUT" "$W/small" v1 --platform linux/amd64 --layer "$W/base.spec:gz" \
        --layer "$W/upper.spec:zst" --layer "$W/third.spec:tar"
push small:v1 test/busy:v1
D=$(remote_digest test/busy:v1)
echo "  test/busy:v1 is $D"

# 1. pull by tag, default name
t0=$(date +%s%N)
if out=$("$BANGER" image pull "$R/test/busy:v1" --json 2>"$W/err1"); then
        pass "image pull $R/test/busy:v1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
else
        fail "image pull: $(tail -3 "$W/err1")"
fi
check "default name is busy-v1" test "$(jq -r .name <<<"$out")" = busy-v1
j=$(show busy-v1)
check "show: ref" test "$(jq -r .ref <<<"$j")" = "$R/test/busy:v1"
check "show: digest is the registry's manifest digest" test "$(jq -r .digest <<<"$j")" = "$D"
check "show: has_init" test "$(jq -r .has_init <<<"$j")" = true
check "show: has_sshd" test "$(jq -r .has_sshd <<<"$j")" = true
check "pull --json prints what show prints" test "$(jq -S . <<<"$out")" = "$(jq -S . <<<"$j")"
IMG=$(jq -r .rootfs <<<"$j")
check "rootfs at STATE/images/busy-v1/rootfs.ext4" test "$IMG" = "$IMAGES/busy-v1/rootfs.ext4" -a -s "$IMG"
check "e2fsck -fn is clean" e2fsck -fn "$IMG"
check "upper layer wins" test "$(dbg 'cat /etc/hostname' "$IMG")" = upper
check "whiteouts applied (file, tree, hard link)" \
        bash -c 'for p in /etc/shadow /gone /home/user/notes.link; do debugfs -R "stat $p" "$1" 2>&1 | grep -q "File not found" || exit 1; done' _ "$IMG"
check "opaque dir hides the lower layer" absent /opq/lower "$IMG"
check "setuid kept" bash -c 'debugfs -R "stat /usr/bin/ping" "$1" 2>/dev/null | grep -q "Mode:  04755"' _ "$IMG"
ino() { dbg "stat $1" "$IMG" | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
check "hard links across layers share an inode" bash -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ "$1" = "$3" ]' _ \
        "$(ino /usr/bin/ping)" "$(ino /usr/bin/ping6)" "$(ino /usr/bin/ping4)"
check "guest agent installed" bash -c 'debugfs -R "stat /usr/sbin/banger-agent" "$1" 2>/dev/null | grep -q "Mode:  0755"' _ "$IMG"
check "agent units installed" bash -c 'debugfs -R "stat /usr/lib/systemd/system/banger-agent.service" "$1" 2>/dev/null | grep -q "Type: regular"' _ "$IMG"
check "sshd drop-in installed" bash -c 'debugfs -R "cat /etc/ssh/sshd_config.d/banger.conf" "$1" 2>/dev/null | grep -q "PasswordAuthentication no"' _ "$IMG"
check "ssh host keys removed" bash -c 'for k in ssh_host_ed25519_key ssh_host_ed25519_key.pub ssh_host_rsa_key; do debugfs -R "stat /etc/ssh/$k" "$1" 2>&1 | grep -q "File not found" || exit 1; done' _ "$IMG"
check "an existing /root keeps its mode 0700" bash -c 'debugfs -R "stat /root" "$1" 2>/dev/null | grep -q "Mode:  0700"' _ "$IMG"
SEED=$(jq -r .work_seed <<<"$j")
check "the image's /root is kept as its work seed" test "$SEED" = "$IMAGES/busy-v1/work-seed.ext4" -a -s "$SEED"
check "  the seed passes e2fsck -fn" e2fsck -fn "$SEED"
check "  its root has /root's mode and holds /root's files and banger's .hushlogin" bash -c 'debugfs -R "stat /" "$1" 2>/dev/null | grep -q "Mode:  0700" && debugfs -R "ls -l /" "$1" 2>/dev/null | grep -q .hushlogin' _ "$SEED"
check "the image's sshd_config kept" test "$(dbg 'cat /etc/ssh/sshd_config' "$IMG")" = 'Include /etc/ssh/sshd_config.d/*.conf'
line=$(pulled_line busy-v1)
echo "  log: $line"
check "first pull downloaded 3 layers + config" test "$(downloaded busy-v1 | cut -d' ' -f1,3)" = "4 0"

# 2. the same image under another name: everything from the cache
if out=$("$BANGER" image pull "$R/test/busy:v1" --name busy-copy --json 2>"$W/err2"); then
        pass "pull under --name busy-copy"
else
        fail "pull --name busy-copy: $(tail -3 "$W/err2")"
fi
echo "  log: $(pulled_line busy-copy)"
check "second name downloaded nothing (0 blobs, 0 bytes, 4 from cache)" test "$(downloaded busy-copy)" = "0 0 4"
check "second name has its own rootfs" test -s "$IMAGES/busy-copy/rootfs.ext4"
check "same digest" test "$(jq -r .digest <<<"$out")" = "$D"

# 3. pull of the unchanged name: a no-op that prints the image
n_before=$(grep -c "image busy-v1 pulled from" "$LOG")
if out=$("$BANGER" image pull "$R/test/busy:v1" 2>"$W/err3"); then
        pass "re-pull of busy-v1 succeeds"
else
        fail "re-pull of busy-v1: $(tail -3 "$W/err3")"
fi
check "re-pull prints the image like show" bash -c 'grep -q "^name: *busy-v1" <<<"$1" && grep -q "digest: *$2" <<<"$1"' _ "$out" "$D"
check "re-pull downloaded nothing" bash -c '[ "$(grep -c "image busy-v1 pulled from" "$1")" -gt "$2" ] && [ "$3" = "0 0 4" ]' _ \
        "$LOG" "$n_before" "$(downloaded busy-v1)"
check "re-pull kept the image (same created time)" \
        test "$(show busy-v1 | jq .created_unix_ms)" = "$(jq .created_unix_ms <<<"$j")"

# 4. by digest: default name repo-<12 hex>
if out=$("$BANGER" image pull "$R/test/busy@$D" --json 2>"$W/err4"); then
        check "pull by digest: name busy-${D:7:12}" test "$(jq -r .name <<<"$out")" = "busy-${D:7:12}"
else
        fail "pull by digest: $(tail -3 "$W/err4")"
fi

# 5. the tag moves: the existing name refuses with ALREADY_EXISTS (exit 4)
printf 'file etc/version 0644 0 0 2\n' > "$W/v2.spec"
"$LAYOUT" "$W/small2" v1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/v2.spec:tar"
push small2:v1 test/busy:v1
rc=0; "$BANGER" image pull "$R/test/busy:v1" >/dev/null 2>"$W/err5" || rc=$?
echo "  $(tail -1 "$W/err5")"
check "changed digest under an existing name: exit 4 (already exists)" test "$rc" -eq 4
check "  the message says to delete or use --name" bash -c 'grep -q delete "$1" && grep -q -- --name "$1"' _ "$W/err5"
check "  busy-v1 still holds the old digest" test "$(show busy-v1 | jq -r .digest)" = "$D"

# 6. a corrupted blob in the registry storage (same size, one byte changed)
printf 'big data/blob 3000000 7\n' > "$W/bad.spec"
"$LAYOUT" "$W/bad" 1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/bad.spec:tar"
push bad:1 test/bad:1
BADL=$(remote_layer test/bad:1 1)
rblob=$(registry_blob "$BADL")
if [ -f "$rblob" ]; then
        printf 'Z' | dd of="$rblob" bs=1 seek=1000000 conv=notrunc status=none
        rc=0; "$BANGER" image pull "$R/test/bad:1" >/dev/null 2>"$W/err6" || rc=$?
        echo "  $(tail -1 "$W/err6")"
        check "corrupted blob refused (non-zero exit)" test "$rc" -ne 0
        check "  the message names the digest check" grep -qi "digest" "$W/err6"
        check "  no image published" not_listed bad-1
        check "  the bad blob is not in the cache" test ! -e "$BLOBS/${BADL#sha256:}"
        check "  no temp files left" no_tmp "$BLOBS" "$IMAGES"
else
        fail "layer $BADL not found in the registry storage"
fi

# 6b. hostile layers through the service: refused naming the entry, nothing
# published, nothing written outside banger's directories.
printf 'dir etc 0755 0 0\nfile ../escape 0644 0 0 x\n' > "$W/h1.spec"
printf 'symlink etc2 /etc\nfile etc2/passwd 0644 0 0 owned\n' > "$W/h2.spec"
printf 'dir etc 0755 0 0\nhardlink etc/x missing/target\n' > "$W/h3.spec"
printf 'file /abs 0644 0 0 x\n' > "$W/h4.spec"
for h in h1:escape h2:etc2/passwd h3:etc/x h4:abs; do
        n=${h%%:*} what=${h#*:}
        "$LAYOUT" "$W/$n" 1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/$n.spec:tar" ||
                { fail "could not build the hostile image $n"; continue; }
        push "$n:1" "test/$n:1"
        pw=$(sha256sum /etc/passwd)
        rc=0; "$BANGER" image pull "$R/test/$n:1" >/dev/null 2>"$W/err-$n" || rc=$?
        echo "  $n: $(tail -1 "$W/err-$n")"
        check "hostile layer $n refused (exit 2) naming the entry" bash -c '[ $1 -eq 2 ] && grep -q "$3" "$2"' _ "$rc" "$W/err-$n" "$what"
        check "  no image published for $n" not_listed "$n-1"
        check "  no temp files left after $n" no_tmp "$BLOBS" "$IMAGES"
        check "  nothing written outside banger's dirs by $n" bash -c '[ ! -e /escape ] && [ ! -e /abs ] && [ ! -e "$1/../escape" ] && [ "$(sha256sum /etc/passwd)" = "$2" ] && ! find "$3" "$4" \( -name escape -o -name abs \) | grep -q .' _ "$IMAGES" "$pw" "$BANGER_HOME" "$W"
done

# 6c. an image without sshd: vm run says so before doing anything else
printf 'dir sbin 0755 0 0\nfile sbin/init 0755 0 0 #!init\n' > "$W/nossh.spec"
"$LAYOUT" "$W/nossh" 1 --platform linux/amd64 --layer "$W/nossh.spec:tar"
push nossh:1 test/nossh:1
if "$BANGER" image pull "$R/test/nossh:1" >/dev/null 2>"$W/err-nossh"; then
        check "image show says the image has no sshd" bash -c '"$1" image show nossh-1 | grep -q "sshd:     no"' _ "$BANGER"
        rc=0; "$BANGER" vm run --image nossh-1 -- true >/dev/null 2>"$W/err-run" || rc=$?
        check "vm run on an image without sshd fails (exit 125) saying so" bash -c '[ $1 -eq 125 ] && grep -q "has no sshd" "$2"' _ "$rc" "$W/err-run"
else
        fail "pull of the sshd-less image: $(tail -1 "$W/err-nossh")"
fi

# 7. kill -9 of banger-imagesvc in the middle of a pull of a 150 MiB layer
mkdir -p "$W/bigtree"
head -c $((150 << 20)) /dev/urandom > "$W/bigtree/random.bin"
printf 'tree %s data\n' "$W/bigtree" > "$W/big.spec"
"$LAYOUT" "$W/big" 1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/big.spec:tar"
push big:1 test/big:1
BIGSUM=$(sha256sum "$W/bigtree/random.bin" | cut -d' ' -f1)
rm -rf "$W/bigtree"
# mid_pull ERRFILE: the operation is past 0 bytes of download (a partial blob
# in the cache, or a progress line on the CLI's stderr)
mid_pull() {
        find "$BLOBS" -name '.tmp-*' -size +0 2>/dev/null | grep -q . ||
                grep -Eq 'download: [1-9][0-9]*%|stage 2/' "$1"
}
"$BANGER" image pull "$R/test/big:1" --name big >/dev/null 2>"$W/err7" &
cli=$!
if wait_for 60 mid_pull "$W/err7"; then
        kill -9 "$SVC_PID"
        wait "$SVC_PID" 2>/dev/null || true
        stage=$(grep -E '^stage|%' "$W/err7" | tail -1)
        parts=$(find "$BLOBS" -name '.tmp-*' -printf '%s ' 2>/dev/null || true)
        pass "killed banger-imagesvc mid-pull (CLI last said: ${stage:-nothing}; partial blobs: ${parts:-none})"
        echo "  temp entries left by the kill: $(find "$BLOBS" "$IMAGES" -name '.tmp-*' 2>/dev/null | wc -l)"
else
        fail "the pull never showed download progress: $(tail -3 "$W/err7")"
fi
rc=0; wait "$cli" || rc=$?
check "the CLI reports the dead service (exit $rc)" test "$rc" -ne 0
check "imagesvc restarts" start_imagesvc
check "restart removed every .tmp-* (cache and images)" no_tmp "$BLOBS" "$IMAGES"
check "no image from the killed pull" not_listed big
t0=$(date +%s%N)
if "$BANGER" image pull "$R/test/big:1" --name big >"$W/out8" 2>"$W/err8"; then
        pass "pull again after the restart ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
        sed "s/^/    /" "$W/err8"
else
        fail "pull after restart: $(tail -3 "$W/err8")"
fi
echo "  log: $(pulled_line big)"
check "plain pull prints the image like show" grep -q "^name: *big$" "$W/out8"
check "progress on stderr (not a TTY): operation, stages, download deciles" \
        bash -c 'grep -q "image.pull big" "$1" && grep -q "stage 1/4: download" "$1" &&
                grep -Eq "download: [0-9]+% \\(" "$1" && grep -q "stage 2/4: flatten" "$1"' _ "$W/err8"
BIGIMG="$IMAGES/big/rootfs.ext4"
check "big image passes e2fsck -fn" e2fsck -fn "$BIGIMG"
check "the 150 MiB file is intact (sha256)" \
        bash -c '[ "$(debugfs -R "dump /data/random.bin /dev/stdout" "$1" 2>/dev/null | sha256sum | cut -d" " -f1)" = "$2" ]' _ "$BIGIMG" "$BIGSUM"
check "no .tmp-* after the good pull" no_tmp "$BLOBS" "$IMAGES"

# 8. cache prune
nblobs=$(find "$BLOBS" -maxdepth 1 -type f ! -name '.tmp-*' | wc -l)
nbytes=$(find "$BLOBS" -maxdepth 1 -type f ! -name '.tmp-*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
listing=$(ls -l "$BLOBS")
if dry=$("$BANGER" image cache prune --dry-run --json 2>"$W/err9"); then
        echo "  dry run: $(jq -c . <<<"$dry") (cache holds $nblobs blobs, $nbytes bytes)"
        check "prune --dry-run reports every blob" test "$(jq .blobs <<<"$dry")" -eq "$nblobs" -a "$nblobs" -gt 0
        check "prune --dry-run reports their bytes" test "$(jq .bytes <<<"$dry")" -eq "$nbytes"
        check "prune --dry-run says dry_run" test "$(jq .dry_run <<<"$dry")" = true
        check "prune --dry-run removes nothing" test "$(ls -l "$BLOBS")" = "$listing"
else
        fail "prune --dry-run: $(tail -2 "$W/err9")"
fi
if txt=$("$BANGER" image cache prune 2>"$W/err10"); then
        echo "  prune: $txt"
        check "prune says what it removed" grep -q "removed $nblobs blobs" <<<"$txt"
        check "prune emptied the cache" test -z "$(ls -A "$BLOBS" 2>/dev/null)"
else
        fail "prune: $(tail -2 "$W/err10")"
fi
check "pulled images survive a prune" e2fsck -fn "$IMAGES/busy-v1/rootfs.ext4"
check "prune of an empty cache: 0 blobs" test "$("$BANGER" image cache prune --dry-run --json | jq .blobs)" -eq 0

# 9. SIGINT to the CLI during a pull (cache empty: the download is running)
"$BANGER" image pull "$R/test/big:1" --name big-int >/dev/null 2>"$W/err11" &
cli=$!
if wait_for 60 mid_pull "$W/err11"; then
        rc=0; "$BANGER" image cache prune --dry-run >/dev/null 2>"$W/err12" || rc=$?
        check "prune refused while a pull runs (exit $rc)" bash -c '[ "$1" -ne 0 ] && grep -q "pull" "$2"' _ "$rc" "$W/err12"
        kill -INT "$cli"
        rc=0; wait "$cli" || rc=$?
        echo "  $(tail -2 "$W/err11" | tr '\n' ' ')"
        check "SIGINT: the CLI exits 130 (cancelled)" test "$rc" -eq 130
        check "SIGINT: no image" not_listed big-int
        check "SIGINT: no temp files (cache and images)" no_tmp "$BLOBS" "$IMAGES"
        check "SIGINT: the operation ended cancelled" bash -c 'grep -qi cancel "$1"' _ "$W/err11"
else
        kill "$cli" 2>/dev/null || true
        wait "$cli" 2>/dev/null || true
        fail "the pull never showed download progress: $(tail -3 "$W/err11")"
fi
check "the service still pulls after the cancel" "$BANGER" image pull "$R/test/busy@$D" --name busy-after >/dev/null 2>&1

# 10. concurrent pulls of one reference and name do the work once
"$BANGER" image cache prune >/dev/null 2>&1 || true
"$BANGER" image pull "$R/test/big:1" --name big-conc >/dev/null 2>"$W/conc1" &
c1=$!
"$BANGER" image pull "$R/test/big:1" --name big-conc >/dev/null 2>"$W/conc2" &
c2=$!
rc1=0; wait "$c1" || rc1=$?
rc2=0; wait "$c2" || rc2=$?
check "two concurrent pulls both succeed" [ "$rc1" -eq 0 -a "$rc2" -eq 0 ]
ids=$(cat "$W/conc1" "$W/conc2" | grep -Eo "^operation [0-9a-f]{16}" | sort -u | wc -l)
check "  and follow one operation" [ "$ids" -eq 1 ]
check "  which downloaded the layers once" [ "$(grep -c "image big-conc pulled from " "$LOG")" -eq 1 ]
finish
