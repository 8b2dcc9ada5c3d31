#!/usr/bin/env bash
# Issue #19, attacks 4 and 9, made the way a hostile registry would make them: images
# on Debian's docker-registry on loopback (built by oci_layout_tool, pushed
# with skopeo) pulled through the real banger-imagesvc + banger-gateway.
#   - a 512 MiB file of one byte, gzip'd to under a megabyte (a compression
#     bomb): refused by image.max_layer_ratio before anything is written;
#   - with image.max_unpacked_size = "64M": two layers whose files add up
#     to 80 MiB are refused at the second; a layer whose blob alone is over
#     64 MiB is refused before any blob is downloaded;
#   - every refusal exits 9 (RESOURCE_EXHAUSTED), names the layer and the
#     config key, and leaves no image, no temporary file, no row and no blob
#     the pull fetched; a normal image still pulls under the same limits;
#   - a layer entry whose atime is INT64_MAX (attack 9) is refused (exit 2)
#     naming the entry, and nothing is published.
. "$(dirname "$0")/testlib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
LAYOUT="${OCI_LAYOUT_TOOL:-$BANGER_BUILD_DIR/tests/oci_layout_tool}"
REGISTRY=/usr/bin/docker-registry
AGENT="${BANGER_AGENT_BINARY:-$BANGER_BUILD_DIR/guest/agent/banger-agent}"
[ -x "$LAYOUT" ] || skip "$LAYOUT not built (target oci_layout_tool)"
[ -x "$AGENT" ] || skip "guest agent $AGENT not built (target banger-agent)"
[ -x "$REGISTRY" ] || skip "docker-registry is not installed (apt-get install docker-registry)"
for t in skopeo jq curl; do
        command -v $t >/dev/null || skip "$t is not installed"
done
export BANGER_AGENT_BINARY="$AGENT"

new_home
W="$BANGER_HOME/w"
mkdir -p "$W" "$BANGER_HOME/config"
export BANGER_CACHE_DIR="$BANGER_HOME/cache"
BLOBS="$BANGER_CACHE_DIR/oci/blobs/sha256"
IMAGES="$BANGER_HOME/state/images"
LOG="$BANGER_HOME/imagesvc.log"
REG_PID="" SVC_PID="" GW_PID=""
cleanup() {
        local rc=$?
        [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
        [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null
        [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null
        wait 2>/dev/null
        cleanup_home
        exit $rc
}
trap cleanup EXIT

. "$HERE/registry_lib.sh"
registry_up "$W"
push() { registry_push "$@"; } # push LAYOUT:TAG REPO:TAG
raw_manifest() { skopeo --policy "$W/policy.json" inspect --raw --tls-verify=false "docker://$R/$1"; }

start_imagesvc() {
        [ -n "$SVC_PID" ] && { kill "$SVC_PID"; wait "$SVC_PID" 2>/dev/null; }
        "$BIN/banger-imagesvc" --owner-uid 0 >>"$LOG" 2>&1 &
        SVC_PID=$!
        wait_for 10 "$BANGER" image list >/dev/null
}
"$BIN/banger-gateway" --owner-uid 0 >"$BANGER_HOME/gateway.log" 2>&1 &
GW_PID=$!
check "imagesvc and gateway up (default limits)" start_imagesvc

blobs() { if [ -d "$BLOBS" ]; then ls "$BLOBS" | sort; fi; }
no_tmp() { ! find "$BLOBS" "$IMAGES" -name '.tmp-*' 2>/dev/null | grep -q .; }
nothing_left() { # nothing_left NAME BLOBS_BEFORE
        ! "$BANGER" image show "$1" >/dev/null 2>&1 && [ ! -e "$IMAGES/$1" ] && no_tmp &&
                [ "$(blobs)" = "$2" ]
}
# refused NAME REF NEEDLE...: pull REF, expect exit 9 and every NEEDLE in the
# message, and nothing left behind
refused() {
        local name=$1 ref=$2 before rc=0 t0
        shift 2
        before=$(blobs)
        t0=$(date +%s%N)
        "$BANGER" image pull "$ref" --name "$name" >/dev/null 2>"$W/err-$name" || rc=$?
        echo "  $name: exit $rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(tail -1 "$W/err-$name")"
        check "$name refused with exit 9 (RESOURCE_EXHAUSTED)" [ "$rc" -eq 9 ]
        local n
        for n in "$@"; do
                check "  the message names $n" grep -qF -- "$n" "$W/err-$name"
        done
        check "  no image, temporary file, row or fetched blob is left" nothing_left "$name" "$before"
}

printf 'dir etc 0755 0 0\nfile etc/hostname 0644 0 0 small\ndir sbin 0755 0 0\nfile sbin/init 0755 0 0 #!init\n' \
        > "$W/base.spec"

# ---- a compression bomb, default limits -----------------------------------
printf 'fill data/bomb 536870912 120\n' > "$W/bomb.spec"
"$LAYOUT" "$W/bomb" 1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/bomb.spec:gz"
push bomb:1 test/bomb:1
BOMB=$(raw_manifest test/bomb:1 | jq -r '.layers[1].digest')
echo "  bomb layer $BOMB: $(raw_manifest test/bomb:1 | jq -r '.layers[1].size') bytes for 512 MiB"
refused bomb "$R/test/bomb:1" "layer 1 (${BOMB:0:19})" "data/bomb" image.max_layer_ratio
check "  the bomb's blob is not in the cache" [ ! -e "$BLOBS/${BOMB#sha256:}" ]
check "  imagesvc wrote no more than a few MiB under its state" \
        [ "$(du -sm "$BANGER_HOME/state" | cut -f1)" -lt 16 ]

# ---- attack 9: a time no inode can hold ------------------------------------
printf 'file etc/motd 0644 0 0 hi\natime 9223372036854775807\n' > "$W/time.spec"
"$LAYOUT" "$W/time" 1 --platform linux/amd64 --layer "$W/base.spec:gz" --layer "$W/time.spec:gz"
push time:1 test/time:1
rc=0; "$BANGER" image pull "$R/test/time:1" --name time >/dev/null 2>"$W/err-time" || rc=$?
echo "  time: exit $rc: $(tail -1 "$W/err-time")"
check "an atime of INT64_MAX is refused (exit 2)" [ "$rc" -eq 2 ]
check "  naming the entry and the time" \
        grep -qF "entry 'etc/motd': atime 9223372036854775807 is outside what ext4 stores" "$W/err-time"
check "  nothing published" bash -c '! "$1" image show time >/dev/null 2>&1 && [ ! -e "$2/time" ]' _ \
        "$BANGER" "$IMAGES"

# ---- image.max_unpacked_size ------------------------------------------------
printf '[image]\nmax_unpacked_size = "64M"\n' > "$BANGER_HOME/config/config.toml"
check "imagesvc restarts with image.max_unpacked_size = 64M" start_imagesvc

"$LAYOUT" "$W/small" 1 --platform linux/amd64 --layer "$W/base.spec:gz"
push small:1 test/small:1
check "an ordinary image still pulls under the limits" \
        "$BANGER" image pull "$R/test/small:1" --name small

printf 'fill a/forty 41943040 121\n' > "$W/f1.spec"
printf 'fill b/forty 41943040 122\n' > "$W/f2.spec"
"$LAYOUT" "$W/wide" 1 --platform linux/amd64 --layer "$W/base.spec:gz" \
        --layer "$W/f1.spec:gz" --layer "$W/f2.spec:gz"
push wide:1 test/wide:1
W2=$(raw_manifest test/wide:1 | jq -r '.layers[2].digest')
refused wide "$R/test/wide:1" "layer 2 (${W2:0:19})" "b/forty" image.max_unpacked_size "67108864"

mkdir -p "$W/rand"
head -c $((70 << 20)) /dev/urandom > "$W/rand/noise"
printf 'tree %s data\n' "$W/rand" > "$W/rand.spec"
"$LAYOUT" "$W/heavy" 1 --platform linux/amd64 --layer "$W/rand.spec:tar"
push heavy:1 test/heavy:1
refused heavy "$R/test/heavy:1" "compressed" image.max_unpacked_size
check "  it downloaded nothing (refused from the manifest)" \
        bash -c '! grep -q "image heavy pulled from" "$1"' _ "$LOG"

finish
