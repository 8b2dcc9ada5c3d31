#!/usr/bin/env bash
# The CLI's own contract: help everywhere, versions, usage errors, exit codes.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
new_home

check "banger --version names version and commit" bash -c '"$1" --version | grep -Eq "^banger [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+|unknown"' _ "$BANGER"
check "banger version --json" bash -c '"$1" version --json | grep -q "\"build_time\""' _ "$BANGER"
for c in "" "status" "daemon" "daemon start" "daemon stop" "daemon status" "version"; do
        check "help for '$c'" bash -c '"$1" $2 --help | grep -q "^Usage: banger"' _ "$BANGER" "$c"
done
for b in banger-gateway banger-vmsvc banger-imagesvc banger-workspacesvc banger-netsvc; do
        check "$b --help" bash -c '"$1/$2" --help | grep -q "^Usage: $2"' _ "$BIN" "$b"
        check "$b --version" bash -c '"$1/$2" --version | grep -q "^$2 "' _ "$BIN" "$b"
        check "$b rejects unknown options" bash -c '! "$1/$2" --bogus 2>/dev/null' _ "$BIN" "$b"
done
check "unknown command exits 2" bash -c '"$1" frobnicate 2>/dev/null; [ $? -eq 2 ]' _ "$BANGER"
check "unknown flag exits 2 and names it" bash -c 'e=$("$1" status --bogus 2>&1); [ $? -eq 2 ] && grep -q -- "--bogus" <<<"$e"' _ "$BANGER"
check "extra argument exits 2" bash -c '"$1" status extra 2>/dev/null; [ $? -eq 2 ]' _ "$BANGER"
check "status without daemon exits 7 with a hint" bash -c 'e=$("$1" status 2>&1); [ $? -eq 7 ] && grep -q "banger daemon start" <<<"$e"' _ "$BANGER"
check "status --json without daemon still prints JSON" bash -c '"$1" status --json | grep -q "\"up\": false"' _ "$BANGER"
check "daemon stop with nothing running exits 0" "$BANGER" daemon stop
check "bad --timeout is a usage error" bash -c '"$1" daemon start --timeout abc 2>/dev/null; [ $? -eq 2 ]' _ "$BANGER"
# config
for c in "config" "config check" "config keys"; do
        check "help for '$c'" bash -c '"$1" $2 --help | grep -q "^Usage: banger"' _ "$BANGER" "$c"
done
check "config check passes on a missing file (defaults)" "$BANGER" config check
printf '[network]\nsubnet = "10.0.0.0/33"\n' > "$BANGER_HOME/bad.toml"
check "config check names line and key of a bad value" bash -c 'e=$("$1" config check "$2" 2>&1); [ $? -eq 2 ] && grep -q "bad.toml:2: network.subnet" <<<"$e"' _ "$BANGER" "$BANGER_HOME/bad.toml"
check "docs/configuration.md matches the schema" bash -c 'diff <("$1" config keys --markdown) <(sed -n "/^| key |/,\$p" "$2/docs/configuration.md")' _ "$BANGER" "$BANGER_SOURCE_DIR"
check "config keys --json is JSON with every key" bash -c '"$1" config keys --json | grep -q "\"key\": \"network.subnet\""' _ "$BANGER"
finish
