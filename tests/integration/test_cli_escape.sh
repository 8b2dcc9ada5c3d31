#!/usr/bin/env bash
# Issue #19, attack 8, CLI side: a guest (or whatever reached vmsvc) puts
# terminal escape sequences in its hostname, a listening process's name, a
# URL, an error and its console. fake_gateway answers VmService calls with
# such strings; the real `banger` must print them escaped in tables and
# plain output (no control character, C1 control, bidi override or
# non-UTF-8 byte reaches the terminal), keep --json exact, and write the
# console raw only when it is not printing to a terminal.
#
# Usage: test_cli_escape.sh FAKE_GATEWAY
. "$(dirname "$0")/testlib.sh"
FAKE=${1:?usage: test_cli_escape.sh FAKE_GATEWAY}
command -v python3 >/dev/null || skip "python3 is not installed"
command -v jq >/dev/null || skip "jq is not installed"
command -v script >/dev/null || skip "script (util-linux) is not installed"

new_home
mkdir -p "$RUN"
"$FAKE" "ipc://$RUN/gateway.sock" > "$BANGER_HOME/fake.log" 2>&1 &
FPID=$!
trap 'kill $FPID 2>/dev/null; wait 2>/dev/null; cleanup_home' EXIT
wait_for 10 test -S "$RUN/gateway.sock" || { echo "fake gateway did not start"; exit 1; }

# terminal_safe FILE: UTF-8, and nothing a terminal would act on but \n, \t
terminal_safe() {
        python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("  not UTF-8:", e); sys.exit(1)
bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
       or ord(c) in (0x200e, 0x200f, 0x2028, 0x2029)
       or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069]
if bad:
    print("  unsafe:", [hex(ord(c)) for c in bad][:10]); sys.exit(1)
PY
}

O="$BANGER_HOME/out"
for cmd in "vm list" "vm list -q" "vm list --format {{.Name}}|{{.Workspace}}|{{.State}}" "vm show web" "vm ports web" "vm health web" "vm stats web"; do
        f="$O.${cmd// /-}"
        case $cmd in *--format*) f="$O.vm-list-format" ;; esac
        $BANGER $cmd > "$f" 2>&1 && rc=0 || rc=$?
        sed 's/^/    /' "$f" | head -8
        check "banger $cmd exits 0" [ "$rc" -eq 0 ]
        check "banger $cmd prints nothing a terminal would act on" terminal_safe "$f"
done
check "vm list shows the escaped name" grep -qF 'web\x1b]0;pwned\x07\x1b[2J' "$O.vm-list"
check "and the escaped workspace (WORKSPACE column)" grep -qF '/src/repo\x1b[2J' "$O.vm-list"
check "vm list -q prints the escaped name" grep -qxF 'web\x1b]0;pwned\x07\x1b[2J' "$O.vm-list--q"
check "vm list --format prints each field escaped" grep -qxF 'web\x1b]0;pwned\x07\x1b[2J|/src/repo\x1b[2J|running\x1b[5m' "$O.vm-list-format"
check "vm health shows the escaped hostname (C1, bidi)" \
        grep -qF 'host\x1b]0;owned\x07\u009b31m\u202edrowssap' "$O.vm-health-web"
check "vm ports shows the escaped process and URL" bash -c \
        'grep -qF "nginx\\x1b[1;1H" "$1" && grep -qF "\\x9b" "$1" && grep -qF "http://x.vm/\\x1b]8;;" "$1"' _ "$O.vm-ports-web"
check "vm show: a newline in the error is shown, not obeyed" \
        grep -qF 'error:     no such VM\n\x1b[31mroot password' "$O.vm-show-web"

# An error status quoting guest data: one escaped line on stderr.
$BANGER vm delete web > "$O.del" 2>&1 && rc=0 || rc=$?
sed 's/^/    /' "$O.del"
check "vm delete fails NOT_FOUND (exit 3)" [ "$rc" -eq 3 ]
check "its message is terminal-safe" terminal_safe "$O.del"
check "and one line" [ "$(wc -l < "$O.del")" -eq 1 ]

# --json stays exact.
name=$($BANGER vm list --json | jq -r '.[0].name')
check "vm list --json keeps the name exact" [ "$name" = $'web\033]0;pwned\007\033[2J' ]
kernel=$($BANGER vm show web --json | jq -r .kernel)
check "bytes that are not UTF-8 become U+FFFD in --json (JSON cannot hold them)" \
        [ "$kernel" = $'debian\xef\xbf\xbd\xef\xbf\xbd' ]
host=$($BANGER vm health web --json | jq -r .hostname)
check "vm health --json keeps the hostname exact" \
        [ "$host" = $'host\033]0;owned\007\xc2\x9b31m\xe2\x80\xaedrowssap' ]

# The console: escaped on a terminal, raw into a pipe.
script -qec "$BANGER vm logs web" /dev/null > "$O.logs-tty" 2>&1 || true
tr -d '\r' < "$O.logs-tty" > "$O.logs-tty.lf"
sed 's/^/    /' "$O.logs-tty.lf"
check "vm logs on a terminal prints nothing a terminal would act on" terminal_safe "$O.logs-tty.lf"
check "and keeps its lines (a serial console's \\r\\n too) and text" bash -c \
        'grep -qx "Booting" "$1" && grep -qF "\\x1b]0;console-title\\x07\\x1b[2Jlogin: ☃" "$1"' _ "$O.logs-tty.lf"
$BANGER vm logs web > "$O.logs-pipe"
check "vm logs into a pipe is the console, byte for byte" \
        [ "$(od -An -tx1 "$O.logs-pipe")" = "$(printf 'Booting\r\n\033]0;console-title\007\033[2Jlogin: \xe2\x98\x83\n' | od -An -tx1)" ]
finish
