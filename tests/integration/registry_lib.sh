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
