# Debian's docker-registry on loopback, for tests and benches (sourced).
#   free_port                      a TCP port nothing listens on
#   registry_start DIR PORT [HTPASSWD]
#                                  serves DIR/data on 127.0.0.1:PORT (deletes
#                                  allowed; Basic auth with HTPASSWD); sets
#                                  REGISTRY_PID; returns 1 with the log on
#                                  stderr when it does not answer in 10 s
REGISTRY=${REGISTRY:-/usr/bin/docker-registry}

free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 40000))
                (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
        done
}

registry_start() {
        local dir=$1 port=$2 auth=${3:-} i
        mkdir -p "$dir"
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
                if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then return 0; fi
                sleep 0.1
        done
        cat "$dir/log" >&2
        return 1
}
