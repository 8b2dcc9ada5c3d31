# Debian's docker-registry on loopback, for tests and benches (sourced).
#   registry_start DIR [HTPASSWD]
#                                  serves DIR/data on 127.0.0.1 at a free port
#                                  it picks (sets REGISTRY_PORT and
#                                  REGISTRY_PID; deletes allowed; Basic auth
#                                  with HTPASSWD). A port taken between the
#                                  pick and the bind (tests run in parallel)
#                                  is retried with another; returns 1 with the
#                                  log on stderr when no registry answers.
REGISTRY=${REGISTRY:-/usr/bin/docker-registry}

# free_port: a TCP port nothing listens on now, below the kernel's ephemeral
# range (32768+) so outgoing connections do not take it meanwhile.
free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 12000))
                (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
        done
}

registry_start() {
        local dir=$1 auth=${2:-} port try i
        mkdir -p "$dir"
        for try in 1 2 3 4 5 6 7 8; do
                port=$(free_port)
                {
                        echo "version: 0.1"
                        echo "log: {level: warn}"
                        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
                        echo "http: {addr: 127.0.0.1:$port}"
                        if [ -n "$auth" ]; then echo "auth: {htpasswd: {realm: banger-test, path: $auth}}"; fi
                } > "$dir/config.yml"
                "$REGISTRY" serve "$dir/config.yml" > "$dir/log" 2>&1 &
                REGISTRY_PID=$!
                for i in $(seq 100); do
                        kill -0 "$REGISTRY_PID" 2>/dev/null || break # exited: port taken
                        if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
                                REGISTRY_PORT=$port
                                return 0
                        fi
                        sleep 0.1
                done
                kill "$REGISTRY_PID" 2>/dev/null || true
                wait "$REGISTRY_PID" 2>/dev/null || true
                grep -q "address already in use" "$dir/log" || break
                echo "registry_start: port $port was taken, trying another" >&2
        done
        cat "$dir/log" >&2
        return 1
}

# registry_need: what a test that uses the functions below needs (the
# registry, skopeo, curl, tests/oci_layout_tool), else setup_fail (skiplib.sh).
registry_need() {
        need_built "${LAYOUT:-$BANGER_BUILD_DIR/tests/oci_layout_tool}"
        [ -x "$REGISTRY" ] ||
                setup_fail "$REGISTRY is missing (package docker-registry; scripts/install-deps.sh installs it)"
        need_tools skopeo curl
}

# registry_new_home: new_home (testlib.sh), W=$BANGER_HOME/w made, and an
# EXIT trap that stops the registry (REG_PID) before it cleans the home.
registry_new_home() {
        new_home
        W="$BANGER_HOME/w"
        mkdir -p "$W"
        REG_PID=""
        trap registry_cleanup EXIT
}

registry_cleanup() {
        local rc=$?
        [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
        wait 2>/dev/null
        cleanup_home
        exit $rc
}

# registry_up W: registry_start under W/registry for a test (setup_fail,
# skiplib.sh, when none answers); sets REG_PID (the caller's EXIT trap kills
# it) and R (its HOST:PORT) and writes W/policy.json for skopeo.
# registry_push LAYOUT:TAG REPO:TAG then copies the OCI layout W/LAYOUT there.
registry_up() {
        REG_W=$1
        registry_start "$REG_W/registry" || setup_fail "docker-registry did not start"
        REG_PID=$REGISTRY_PID
        R="127.0.0.1:$REGISTRY_PORT"
        echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$REG_W/policy.json"
}

registry_push() {
        skopeo --policy "$REG_W/policy.json" copy -q --dest-tls-verify=false "oci:$REG_W/$1" \
                "docker://$R/$2"
}

# registry_busy W: registry_up W, then test/busy:v1 pushed to it: one layer
# with /etc/hostname, a stub /sbin/init and /root, made with
# tests/oci_layout_tool ($LAYOUT).
registry_busy() {
        local w=$1
        local layout=${LAYOUT:-$BANGER_BUILD_DIR/tests/oci_layout_tool}
        registry_up "$w"
        printf '%s\n' 'dir etc 0755 0 0' 'file etc/hostname 0644 0 0 base' 'dir sbin 0755 0 0' \
                'file sbin/init 0755 0 0 #!init' 'dir root 0700 0 0' > "$w/base.spec"
        "$layout" "$w/busy" v1 --platform linux/amd64 --layer "$w/base.spec:gz" >/dev/null ||
                setup_fail "oci_layout_tool could not make the test image"
        registry_push busy:v1 test/busy:v1 || setup_fail "skopeo could not push to the local registry"
}
