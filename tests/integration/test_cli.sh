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
# ssh-config --install / --uninstall: one marked Include at the top, the rest kept
H="$BANGER_HOME/userhome"
mkdir -p "$H/.ssh"
printf 'Host example\n    User me\n' > "$H/.ssh/config"
chmod 600 "$H/.ssh/config"
check "ssh-config without the daemon says who writes it (exit 3)" bash -c 'e=$(HOME=$2 "$1" ssh-config 2>&1); [ $? -eq 3 ] && grep -q "banger-vmsvc writes it" <<<"$e"' _ "$BANGER" "$H"
check "ssh-config --install" env HOME="$H" "$BANGER" ssh-config --install
check "  again: idempotent" env HOME="$H" "$BANGER" ssh-config --install
check "  one Include, first, the user's hosts kept, mode kept" bash -c '[ "$(grep -c "^Include" "$1")" = 1 ] && sed -n 2p "$1" | grep -q "^Include \".*/ssh/config\"" && grep -q "^Host example" "$1" && [ "$(stat -c %a "$1")" = 600 ]' _ "$H/.ssh/config"
check "  ssh reads the result" bash -c 'ssh -F "$1" -G example | grep -q "^user me"' _ "$H/.ssh/config"
check "ssh-config --uninstall" env HOME="$H" "$BANGER" ssh-config --uninstall
check "  leaves the file as it was" bash -c '[ "$(cat "$1")" = "$(printf "Host example\n    User me")" ]' _ "$H/.ssh/config"
check "--install with --uninstall is a usage error" bash -c 'HOME=$2 "$1" ssh-config --install --uninstall 2>/dev/null; [ $? -eq 2 ]' _ "$BANGER" "$H"
finish
