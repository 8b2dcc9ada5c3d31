#!/usr/bin/env bash
# lib/oci against real registries (label integration):
#  - Debian's docker-registry on loopback, open and with htpasswd (Basic auth);
#  - oci_token_server for the Bearer flow, with blob redirects to another host
#    name (the Authorization header must not follow);
#  - images built by oci_layout_tool (multi-arch index, whiteouts and opaque
#    dirs across layers, hardlinks, xattrs, devices) and pushed with skopeo;
#  - pulls and flattens with oci_pull_tool, images checked with debugfs and
#    e2fsck -fn; cached re-pull downloads nothing; a corrupted blob in the
#    registry storage is refused; cancel leaves no partial files.
set -euo pipefail
: "${BANGER_BUILD_DIR:?run through ctest}"
T_FAILS=0
T_PASSES=0
. "$(dirname "$0")/../skiplib.sh" # skip, setup_fail, need_*
fail() { echo "FAIL: $*" >&2; T_FAILS=$((T_FAILS + 1)); }
pass() { echo "ok: $*"; T_PASSES=$((T_PASSES + 1)); }
check() { local d="$1"; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

TOOLS="$BANGER_BUILD_DIR/tests"
PULL="$TOOLS/oci_pull_tool"
LAYOUT="$TOOLS/oci_layout_tool"
TOKSRV="$TOOLS/oci_token_server"
REGISTRY=/usr/bin/docker-registry
need_built "$PULL" "$LAYOUT" "$TOKSRV"
[ -x "$REGISTRY" ] || setup_fail "$REGISTRY is missing (package docker-registry; scripts/install-deps.sh installs it)"
command -v debugfs >/dev/null || PATH=$PATH:/sbin:/usr/sbin
need_tools skopeo htpasswd debugfs e2fsck

W=$(mktemp -d /tmp/oci-it.XXXXXX)
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$W"
}
trap cleanup EXIT

# ---- images -----------------------------------------------------------------
cat > "$W/base.spec" <<'S'
dir etc 0755 0 0
file etc/hostname 0644 0 0 base
file etc/shadow 0640 0 42 secret
dir sbin 0755 0 0
file sbin/init 0755 0 0 #!init
file usr/bin/ping 04755 0 0 ELF-ping
xattr security.capability cap-bytes
xattr user.note hello
hardlink usr/bin/ping6 usr/bin/ping
symlink bin usr/bin
chr dev/null 1 3
fifo run/initctl
dir opq 0755 0 0
file opq/lower 0644 0 0 lower
file gone/deep/x 0644 0 0 x
file arch 0644 0 0 amd64
S
cat > "$W/upper.spec" <<'S'
file etc/.wh.shadow 0644 0 0
file .wh.gone 0644 0 0
dir opq 0711 0 0
file opq/upper 0644 1000 1000 upper
file opq/.wh..wh..opq 0644 0 0
file etc/hostname 0644 0 0 upper
file usr/sbin/sshd 0755 0 0 ELF-sshd
S
cat > "$W/arm.spec" <<'S'
file arch 0644 0 0 arm64
file sbin/init 0755 0 0 #!init
S
"$LAYOUT" "$W/layout" v1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/upper.spec:zst" \
        --platform linux/arm64/v8 --layer "$W/arm.spec:tar"

POLICY="$W/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$POLICY"

. "$(dirname "$0")/registry_lib.sh"
start_registry() { # name [htpasswd]; sets REGISTRY_PORT
        registry_start "$W/$1" "${2:-}" || return 1
        PIDS+=("$REGISTRY_PID")
}

field() { sed -n "s/^$1=\([^ ]*\).*/\1/p" "$2" | head -1; }
kv() { grep -o "$1=[0-9]*" "$2" | head -1 | cut -d= -f2; }
dbg() { debugfs -R "$1" "$2" 2>/dev/null; }
no_tmp() { ! find "$1" -name '.tmp-*' | grep -q .; }

# ---- open registry ----------------------------------------------------------
start_registry open || { echo "docker-registry did not start"; exit 1; }
P1=$REGISTRY_PORT
skopeo --policy "$POLICY" copy -q --all --dest-tls-verify=false "oci:$W/layout:v1" \
        "docker://127.0.0.1:$P1/test/img:v1"
pass "skopeo pushed a multi-arch image"

C="$W/cache"
if "$PULL" --cache "$C" "127.0.0.1:$P1/test/img:v1" "$W/amd64.ext4" > "$W/pull1" 2> "$W/err1"; then
        pass "pull + flatten linux/amd64"
else
        fail "pull: $(cat "$W/err1")"
fi
cat "$W/pull1"
check "e2fsck -fn is clean" e2fsck -fn "$W/amd64.ext4"
check "amd64 content" test "$(dbg 'cat /arch' "$W/amd64.ext4")" = amd64
check "upper layer wins" test "$(dbg 'cat /etc/hostname' "$W/amd64.ext4")" = upper
check "whiteout removed etc/shadow" sh -c "debugfs -R 'stat /etc/shadow' '$W/amd64.ext4' 2>&1 | grep -q 'File not found'"
check "whiteout removed a directory tree" sh -c "debugfs -R 'stat /gone' '$W/amd64.ext4' 2>&1 | grep -q 'File not found'"
check "opaque dir hides lower entries" sh -c "debugfs -R 'stat /opq/lower' '$W/amd64.ext4' 2>&1 | grep -q 'File not found'"
check "opaque dir keeps its own layer" test "$(dbg 'cat /opq/upper' "$W/amd64.ext4")" = upper
check "opaque dir mode from upper" sh -c "debugfs -R 'stat /opq' '$W/amd64.ext4' 2>/dev/null | grep -q 'Mode:  0711'"
check "owner kept" sh -c "debugfs -R 'stat /opq/upper' '$W/amd64.ext4' 2>/dev/null | grep -q 'User:  1000   Group:  1000'"
ino1=$(dbg 'stat /usr/bin/ping' "$W/amd64.ext4" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
ino2=$(dbg 'stat /usr/bin/ping6' "$W/amd64.ext4" | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
check "hardlink shares the inode" test -n "$ino1" -a "$ino1" = "$ino2"
check "setuid kept" sh -c "debugfs -R 'stat /usr/bin/ping' '$W/amd64.ext4' 2>/dev/null | grep -q 'Mode:  04755'"
check "security.capability xattr" sh -c "debugfs -R 'ea_get /usr/bin/ping security.capability' '$W/amd64.ext4' 2>/dev/null | grep -q cap-bytes"
check "user xattr" sh -c "debugfs -R 'ea_get /usr/bin/ping user.note' '$W/amd64.ext4' 2>/dev/null | grep -q hello"
check "char device" sh -c "debugfs -R 'stat /dev/null' '$W/amd64.ext4' 2>/dev/null | grep -q 'Type: character special'"
check "fifo" sh -c "debugfs -R 'stat /run/initctl' '$W/amd64.ext4' 2>/dev/null | grep -q 'Type: FIFO'"
check "symlink" test "$(dbg 'stat /bin' "$W/amd64.ext4" | grep -o 'Fast link dest: "usr/bin"')" = 'Fast link dest: "usr/bin"'
check "init and sshd detected" grep -q "has_init=1 init=/sbin/init has_sshd=1" "$W/pull1"
check "config label recorded" grep -q "label=banger.test=yes" "$W/pull1"
check "image is sparse" test "$(du -k "$W/amd64.ext4" | cut -f1)" -lt $(( $(stat -c %s "$W/amd64.ext4") / 1024 / 2 ))
check "first pull downloaded the blobs" test "$(kv downloaded "$W/pull1")" -eq 3

"$PULL" --cache "$C" "127.0.0.1:$P1/test/img:v1" "$W/again.ext4" > "$W/pull2"
check "cached re-pull downloads nothing" test "$(kv downloaded "$W/pull2")" -eq 0 -a "$(kv bytes "$W/pull2")" -eq 0
check "cached re-pull finds every blob" test "$(kv cached "$W/pull2")" -eq 3
check "cached re-pull only fetches manifests" test "$(kv requests "$W/pull2")" -le 2

"$PULL" --cache "$C" --platform linux/arm64 "127.0.0.1:$P1/test/img:v1" "$W/arm.ext4" > "$W/pull3"
check "multi-arch: linux/arm64 selected" test "$(dbg 'cat /arch' "$W/arm.ext4")" = arm64
check "multi-arch: arm64 config" grep -q "platform=linux/arm64" "$W/pull3"
if "$PULL" --cache "$C" --platform linux/s390x "127.0.0.1:$P1/test/img:v1" "$W/x.ext4" > /dev/null 2> "$W/err"; then
        fail "unknown platform accepted"
else
        check "unknown platform refused, listing the offer" grep -q "no image for platform linux/s390x.*linux/amd64" "$W/err"
fi
DIGEST=$(field manifest "$W/pull1")
"$PULL" --cache "$C" "127.0.0.1:$P1/test/img@$DIGEST" "$W/bydigest.ext4" > "$W/pull4"
check "pull by digest" test "$(dbg 'cat /arch' "$W/bydigest.ext4")" = amd64

# cancel mid-download: nothing partial left in the cache
"$LAYOUT" "$W/biglayout" big --platform linux/amd64 --layer <(printf 'big data 8000000 1\n'):tar
skopeo --policy "$POLICY" copy -q --dest-tls-verify=false "oci:$W/biglayout:big" "docker://127.0.0.1:$P1/test/big:1"
if "$PULL" --cache "$W/cache-cancel" --cancel-after 1 "127.0.0.1:$P1/test/big:1" "$W/c.ext4" > /dev/null 2> "$W/err"; then
        fail "cancel ignored"
else
        check "cancel reported" grep -q cancelled "$W/err"
        check "cancel leaves no partial blobs" no_tmp "$W/cache-cancel"
fi

# corrupted blob in the registry storage (same size, one byte changed)
BLOB=$(find "$W/open/data" -path '*/blobs/sha256/*/data' -size +7000k | head -1)
printf 'Z' | dd of="$BLOB" bs=1 seek=100 conv=notrunc status=none
if "$PULL" --cache "$W/cache-bad" "127.0.0.1:$P1/test/big:1" "$W/bad.ext4" > /dev/null 2> "$W/err"; then
        fail "corrupted blob accepted"
else
        check "corrupted blob refused" grep -q "does not match its digest" "$W/err"
        check "corrupted blob not cached" sh -c "! find '$W/cache-bad/blobs/sha256' -type f -size +7000k | grep -q ."
        check "no temp files after the failure" no_tmp "$W/cache-bad"
fi

# plain HTTP is for loopback only: same registry through a non-loopback name
if "$PULL" --cache "$W/cache-x" "banger-test.invalid:$P1/test/img:v1" "$W/x.ext4" > /dev/null 2> "$W/err"; then
        fail "non-loopback registry spoke plain HTTP"
else
        pass "non-loopback registry uses HTTPS (fails here): $(head -c 100 "$W/err")"
fi

# ---- htpasswd registry (Basic) ------------------------------------------------
htpasswd -Bbc "$W/htpasswd" alice wonderland 2> /dev/null
start_registry basic "$W/htpasswd" || { echo "docker-registry (htpasswd) did not start"; exit 1; }
P2=$REGISTRY_PORT
skopeo --policy "$POLICY" copy -q --all --dest-tls-verify=false --dest-creds alice:wonderland \
        "oci:$W/layout:v1" "docker://127.0.0.1:$P2/test/img:v1"
if "$PULL" --cache "$W/cache2" "127.0.0.1:$P2/test/img:v1" "$W/b.ext4" > /dev/null 2> "$W/err"; then
        fail "anonymous pull from an htpasswd registry succeeded"
else
        check "anonymous pull refused: needs a login" grep -q "requires a login" "$W/err"
fi
mkdir -p "$W/docker"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"},"127.0.0.1:%s":{"auth":"%s"}}}' \
        "$P2" "$(printf alice:wrong | base64)" "$P1" "$(printf alice:wonderland | base64)" > "$W/docker/bad.json"
printf '{"auths":{"http://127.0.0.1:%s/v2/":{"auth":"%s"}}}' "$P2" "$(printf alice:wonderland | base64)" > "$W/docker/config.json"
if "$PULL" --cache "$W/cache2" --docker-config "$W/docker/bad.json" "127.0.0.1:$P2/test/img:v1" "$W/b.ext4" > /dev/null 2> "$W/err"; then
        fail "wrong password accepted"
else
        check "wrong password refused" grep -q "refused the credentials for user 'alice'" "$W/err"
fi
check "basic auth pull with docker config" "$PULL" --cache "$W/cache2" --docker-config "$W/docker/config.json" \
        "127.0.0.1:$P2/test/img:v1" "$W/b.ext4"
check "basic auth image content" test "$(dbg 'cat /etc/hostname' "$W/b.ext4")" = upper

# ---- Bearer token flow, blob redirect to another host ---------------------------
"$TOKSRV" "$W/layout" "$W/tok.port" bob builder > "$W/tok.log" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do [ -s "$W/tok.port" ] && break; sleep 0.1; done
P3=$(cat "$W/tok.port")
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$P3" "$(printf bob:builder | base64)" > "$W/docker/tok.json"
if "$PULL" --cache "$W/cache3" --docker-config "$W/docker/tok.json" "127.0.0.1:$P3/test/img:v1" "$W/t.ext4" > "$W/pull5" 2> "$W/err"; then
        pass "bearer token pull"
else
        fail "bearer pull: $(cat "$W/err")"
fi
check "bearer: token fetched with credentials" grep -q "^TOKEN /token" "$W/tok.log"
check "bearer: blobs served from the storage host" grep -q "^STORAGE" "$W/tok.log"
check "bearer: no Authorization sent to the storage host" sh -c "! grep -q '^LEAK' '$W/tok.log'"
check "bearer: image content" test "$(dbg 'cat /opq/upper' "$W/t.ext4")" = upper
if "$PULL" --cache "$W/cache4" "127.0.0.1:$P3/test/img:v1" "$W/t2.ext4" > /dev/null 2> "$W/err"; then
        fail "token server gave a token without credentials"
else
        check "bearer: anonymous token refused" grep -q "token service 127.0.0.1 refused anonymous access" "$W/err"
fi
# a registry redirecting blobs to plain HTTP on a non-loopback host is refused
"$TOKSRV" "$W/layout" "$W/tok2.port" bob builder "http://storage.banger-test.invalid" > "$W/tok2.log" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do [ -s "$W/tok2.port" ] && break; sleep 0.1; done
P4=$(cat "$W/tok2.port")
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$P4" "$(printf bob:builder | base64)" > "$W/docker/tok2.json"
if "$PULL" --cache "$W/cache5" --docker-config "$W/docker/tok2.json" "127.0.0.1:$P4/test/img:v1" "$W/t3.ext4" > /dev/null 2> "$W/err"; then
        fail "redirect to plain HTTP on another host followed"
else
        check "redirect to non-loopback plain HTTP refused" grep -q "refusing plain HTTP to storage.banger-test.invalid" "$W/err"
        check "no temp files after a refused redirect" no_tmp "$W/cache5"
fi

echo "$T_PASSES passed, $T_FAILS failed"
[ "$T_FAILS" -eq 0 ]
