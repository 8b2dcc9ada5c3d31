#!/usr/bin/env bash
# The skip check of scripts/test.sh (tests/skip_check.py) on junit files made
# by a real ctest run of a small project: an allowed skip passes and is
# listed with its reason; a reason outside the list, a skip with no
# BANGER-SKIP line, a malformed line, a partial skip that passed and a
# partial cmocka skip each fail; a bad allowed list is an error. Then the
# repo's own list: every reason-id a test or benchmark skips with is in
# tests/skip-allowed.txt, and every entry there is used.
set -uo pipefail
: "${BANGER_SOURCE_DIR:?run through ctest}"
S="$BANGER_SOURCE_DIR"
CHECK=(python3 "$S/tests/skip_check.py")
FAILS=0 PASSES=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; PASSES=$((PASSES + 1)); }
W=$(mktemp -d /tmp/bgskip.XXXXXX)
trap 'rm -rf "$W"' EXIT

printf '# test list\nnot-root   # why\n\nno-kvm\n' > "$W/allowed.txt"

# junit CASE TEST-COMMANDS...: a ctest project whose tests run the given sh
# commands (SKIP_RETURN_CODE 77, as cmake/BangerTest.cmake sets), run by
# ctest into $W/CASE.xml.
junit() {
        local c=$1 i=0 d="$W/$1"
        shift
        mkdir -p "$d"
        {
                echo "cmake_minimum_required(VERSION 3.20)"
                echo "project(skipcheck NONE)"
                echo "enable_testing()"
                for cmd in "$@"; do
                        i=$((i + 1))
                        printf 'add_test(NAME t%d COMMAND sh -c [==[%s]==])\n' "$i" "$cmd"
                        printf 'set_tests_properties(t%d PROPERTIES SKIP_RETURN_CODE 77)\n' "$i"
                done
        } > "$d/CMakeLists.txt"
        cmake -S "$d" -B "$d/b" >/dev/null 2>&1 || { fail "$c: cmake"; return 1; }
        ctest --test-dir "$d/b" --output-junit "$W/$c.xml" --test-output-size-passed 1000000 \
                >/dev/null 2>&1
        [ -s "$W/$c.xml" ] || fail "$c: ctest wrote no junit file"
}
# expect CASE RC PATTERN...: the check of CASE exits RC and prints every PATTERN.
expect() {
        local c=$1 want=$2 out rc=0 p ok=1
        shift 2
        out=$("${CHECK[@]}" "$W/$c.xml" "$W/allowed.txt" 2>&1) || rc=$?
        [ "$rc" -eq "$want" ] || { ok=0; echo "  exit $rc, want $want"; }
        for p in "$@"; do
                grep -qE -- "$p" <<<"$out" || { ok=0; echo "  no line matching: $p"; }
        done
        [ $ok -eq 1 ] && pass "$c: exit $want" || { echo "$out" | sed 's/^/  | /'; fail "$c"; }
}

junit clean 'echo hi' 'echo "ok: fine"'
expect clean 0 '^skipped tests: none$'

junit allowed 'echo hi' 'echo "BANGER-SKIP: not-root: needs <root> & co"; exit 77' \
        'head -c 5000 /dev/zero | tr "\0" x; echo; echo "BANGER-SKIP: no-kvm: late in the output"; exit 77'
expect allowed 0 '^skipped tests: 2$' '^  t2: not-root: needs <root> & co$' '^  t3: no-kvm: late in the output$'

junit disallowed 'echo "BANGER-SKIP: no-mirror: the Debian mirror is unreachable"; exit 77' \
        'echo "BANGER-SKIP: not-root: fine"; exit 77'
expect disallowed 1 "^FAIL: t1: skip reason 'no-mirror' is not in the allowed list$" \
        '^  t2: not-root: fine$'

junit bare 'echo "SKIP: old style"; exit 77'
expect bare 1 '^FAIL: t1: skipped without a BANGER-SKIP line'

junit malformed 'echo "BANGER-SKIP: Not Root: x"; exit 77' 'echo "BANGER-SKIP: no-kvm:"; exit 77'
expect malformed 1 '^FAIL: t1: malformed skip line' '^FAIL: t2: malformed skip line'

junit partial 'head -c 3000 /dev/zero | tr "\0" y; echo; echo "BANGER-SKIP: not-root: part of it"; exit 0'
expect partial 1 '^FAIL: t1: skipped part of its work but passed'

junit cmocka 'printf "[  SKIPPED ] test_x\n[  PASSED  ] 3 test(s).\n"; exit 0'
expect cmocka 1 '^FAIL: t1: skipped part of its work but passed'

junit failed 'echo "BANGER-SKIP: not-root: then failed"; exit 1'
expect failed 0 '^skipped tests: none$'

printf 'not root\n' > "$W/allowed.txt"
expect clean 2 "^FAIL: skip check: .*allowed.txt:1: 'not root' is not a reason-id"
rc=0; "${CHECK[@]}" "$W/nonexistent.xml" "$S/tests/skip-allowed.txt" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] && pass "a missing junit file: exit 2" || fail "a missing junit file: exit $rc"

# The repo's list against the reason-ids the sources skip with.
allowed=$(sed 's/#.*//' "$S/tests/skip-allowed.txt" | tr -s ' \t' '\n' | grep . | sort -u)
used=$( {
        grep -rhoE '(^|[^_a-z])skip [a-z0-9][a-z0-9-]* "' --include='*.sh' "$S/tests" "$S/bench" |
                sed -E 's/.*skip ([a-z0-9-]+) "$/\1/'
        grep -rhoE 'test_skip(_main)?\("[a-z0-9-]+"' --include='*.c' --include='*.h' "$S/tests" "$S/bench" |
                sed -E 's/.*\("([a-z0-9-]+)"/\1/'
        grep -rhoE 'BANGER-SKIP: [a-z0-9-]+:' --include='*.c' "$S/bench" | sed -E 's/BANGER-SKIP: ([a-z0-9-]+):/\1/'
        grep -rhoE 'need_root' --include='*.sh' "$S/tests" "$S/bench" | sed 's/.*/not-root/'
} | sort -u)
echo "reason-ids skipped with: $(echo $used)"
extra=$(comm -23 <(echo "$used") <(echo "$allowed"))
unused=$(comm -13 <(echo "$used") <(echo "$allowed"))
[ -z "$extra" ] && pass "every reason-id used is allowed" || fail "not in tests/skip-allowed.txt: $extra"
[ -z "$unused" ] && pass "every allowed reason-id is used" || fail "allowed but never used: $unused"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
