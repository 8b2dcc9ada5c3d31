#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan+UBSan) in
# build-fuzz and fuzzes one target or all of them, then prints a table of
# execs, execs/s and coverage per target. Exits non-zero when any target
# crashed, leaked, timed out or ran out of memory; the reproducers are listed
# (copy each into tests/fuzz/regress/TARGET/ with the fix). See
# docs/testing.md, "Fuzzing".
#
#   scripts/fuzz.sh                   # every target, 60 s each
#   scripts/fuzz.sh toml 600          # one target for 10 minutes
#   scripts/fuzz.sh all 20 -j2        # every target, 20 s each, two at a time (CI)
#   scripts/fuzz.sh --list            # the target names
#
# BANGER_FUZZ_BUILD_DIR overrides build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BANGER_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
OUT=$BUILD/fuzz-out

list_targets() {
        sed -nE 's/^[[:space:]]*banger_fuzz_target\(([a-z0-9_]+).*/\1/p' \
                "$ROOT"/tests/fuzz/targets_*.cmake | sort
}

if [ "${1:-}" = "--list" ]; then
        list_targets
        exit 0
fi
target=${1:-all}
secs=${2:-60}
jobs=1
if [ "${3:-}" = "-j2" ]; then jobs=2; elif [ -n "${3:-}" ]; then
        echo "usage: $0 [TARGET|all] [SECONDS] [-j2]" >&2
        exit 2
fi
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
        echo "fuzz.sh: SECONDS must be a positive integer, got '$secs'" >&2
        exit 2
fi

mapfile -t all < <(list_targets)
if [ "$target" = all ]; then
        targets=("${all[@]}")
else
        if ! printf '%s\n' "${all[@]}" | grep -qx "$target"; then
                echo "fuzz.sh: no target '$target'; targets: ${all[*]}" >&2
                exit 2
        fi
        targets=("$target")
fi

CC=${BANGER_FUZZ_CC:-clang-14}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
echo "== build ($BUILD, $CC, libFuzzer+ASan+UBSan)"
nice -n 19 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER="$CC" -DBANGER_FUZZ=ON >/dev/null
nice -n 19 cmake --build "$BUILD" -j2 --target fuzz-all

results=$(mktemp)
trap 'rm -f "$results"' EXIT
run_one() {
        local t=$1 log="$OUT/$1.smoke.log" rc=0
        mkdir -p "$OUT"
        nice -n 19 "$ROOT/tests/fuzz/fuzz_smoke.sh" "$BUILD/fuzz/fuzz_$t" "$t" "$secs" "$OUT" \
                "$ROOT/tests/fuzz" >"$log" 2>&1 || rc=$?
        grep '^fuzz-result ' "$log" >>"$results" || echo "fuzz-result $t status=FAIL" >>"$results"
        if [ $rc -ne 0 ]; then cat "$log"; fi
}

echo "== fuzzing ${#targets[@]} target(s), ${secs}s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
        run_one "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
                wait -n || true
                running=$((running - 1))
        fi
done
wait || true

echo
printf '%-14s %-6s %12s %10s %7s %8s %7s\n' target result execs 'exec/s' cov ft corpus
fail=0
for t in "${targets[@]}"; do
        line=$(grep "^fuzz-result $t " "$results" | tail -n 1)
        get() { sed -nE "s/.* $1=([^ ]+).*/\\1/p" <<<"$line"; }
        st=$(get status)
        [ "$st" = ok ] || fail=1
        printf '%-14s %-6s %12s %10s %7s %8s %7s\n' "$t" "${st:-FAIL}" "$(get execs)" \
                "$(get exec_per_s)" "$(get cov)" "$(get ft)" "$(get corpus)"
done
echo "(${secs}s per target; logs and reproducers under $OUT/)"
if [ $fail -ne 0 ]; then
        echo "FAIL: a fuzz target crashed, leaked, timed out or ran out of memory (see above)"
        exit 1
fi
