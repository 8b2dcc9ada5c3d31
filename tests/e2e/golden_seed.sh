# The default kernel and golden image for e2e tests and benchmarks, built once
# per build and reused (sourced by tests/e2e/e2e_lib.sh and bench/bench_lib.sh).
#
# golden_seed B BIN: fills $BANGER_HOME/state with the kernel
# debian-cloud-amd64 and the image golden. The first caller builds them with
# the real services (imagesvc and the gateway, on the host network) and keeps
# their state under BUILD/e2e-cache/seed-KEY; later callers copy it. KEY is
# the content the result depends on: the imagesvc binary, the guest agent
# (the kernel's initramfs and the image carry it), the guest files shipped
# into images, this script and the Debian mirror's InRelease (so a
# mirror update or a rebuilt banger builds afresh; only the newest seed is
# kept). A flock makes concurrent callers wait for the one building.
# Sets GOLDEN_SEED to "built" or "copied"; returns non-zero (with the reason in
# $BANGER_HOME/err) when the kernel pull or the image build failed.
GOLDEN_MIRROR=${GOLDEN_MIRROR:-http://deb.debian.org/debian}

golden_seed_key() {
        local release
        release=$(curl -fsS --max-time 20 "$GOLDEN_MIRROR/dists/bookworm/InRelease" | sha256sum) ||
                return 1
        {
                echo "$release"
                sha256sum "$BANGER_BUILD_DIR/bin/banger-imagesvc" \
                        "$BANGER_BUILD_DIR/guest/agent/banger-agent" "${BASH_SOURCE[0]}"
                (cd "$BANGER_BUILD_DIR/share/banger/guest-files" && find . -type f -print0 |
                        sort -z | xargs -0 sha256sum)
        } | sha256sum | cut -c1-16
}

golden_seed_build() { # B BIN: the real build into $BANGER_HOME/state
        local B=$1 BIN=$2 ok=0 p
        "$BIN/banger-imagesvc" --owner-uid 0 >"$BANGER_HOME/imagesvc.phase1.log" 2>&1 &
        "$BIN/banger-gateway" --owner-uid 0 >"$BANGER_HOME/gateway.phase1.log" 2>&1 &
        for _ in $(seq 100); do "$B" image list >/dev/null 2>&1 && break; sleep 0.1; done
        if "$B" kernel pull debian-cloud-amd64 >/dev/null 2>"$BANGER_HOME/err" &&
                "$B" image build golden >/dev/null 2>"$BANGER_HOME/err"; then
                ok=1
        fi
        "$B" daemon stop --timeout 10 >/dev/null 2>&1
        for p in /proc/[0-9]*; do
                grep -qxz "BANGER_HOME=$BANGER_HOME" "$p/environ" 2>/dev/null && kill "${p#/proc/}" 2>/dev/null
        done
        for _ in $(seq 50); do
                [ -e "$BANGER_HOME/run/imagesvc.sock" ] || [ -e "$BANGER_HOME/run/gateway.sock" ] || break
                sleep 0.1
        done
        [ "$ok" -eq 1 ]
}

golden_seed() {
        local B=$1 BIN=$2 cache="$BANGER_BUILD_DIR/e2e-cache" key seed rc=0
        mkdir -p "$cache" "$BANGER_HOME/state"
        export BANGER_CACHE_DIR="$cache"
        key=$(golden_seed_key) || key=""
        if [ -z "$key" ]; then # mirror unreachable: build (and fail) as before
                GOLDEN_SEED=built
                golden_seed_build "$B" "$BIN"
                return
        fi
        seed="$cache/seed-$key"
        exec 8>"$cache/seed.lock"
        flock 8
        if [ -f "$seed/complete" ]; then
                cp -a --sparse=always "$seed/state/." "$BANGER_HOME/state/" || rc=$?
                GOLDEN_SEED=copied
        else
                GOLDEN_SEED=built
                golden_seed_build "$B" "$BIN" || rc=$?
                if [ "$rc" -eq 0 ]; then
                        rm -rf "$cache"/seed-* "$seed.tmp"
                        mkdir -p "$seed.tmp/state"
                        for f in images kernels images.db images.db-wal images.db-shm; do
                                [ -e "$BANGER_HOME/state/$f" ] &&
                                        cp -a --sparse=always "$BANGER_HOME/state/$f" "$seed.tmp/state/"
                        done
                        touch "$seed.tmp/complete" && mv "$seed.tmp" "$seed"
                fi
        fi
        flock -u 8
        exec 8>&-
        return $rc
}
