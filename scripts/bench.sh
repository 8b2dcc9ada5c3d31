#!/usr/bin/env bash
# Runs banger's benchmarks one after another (never two at once: they would
# share the CPU), then prints one table of every measure, also written to
# BUILD/bench-results.md:
#
#   | measure | ours | baseline | ratio | goal | result |
#
# usage: scripts/bench.sh [--build-dir DIR] [--no-build] [NAME...]
#   --build-dir DIR  the build tree (default: build); configured if it is not
#   --no-build       do not build first (the `bench` target's own call)
#   NAME...          only these benchmarks (bench-boot or boot); default all,
#                    as listed in BUILD/bench/benchmarks.txt
#
# Each benchmark is the command of its bench-NAME target (BUILD/bench/run/);
# it prints its own report plus one line per measure,
#   BENCH <measure> ours=<n> base=<n|-> ratio=<r|-> goal=<expr> <PASS|MISS>
# Exit status: 1 when a benchmark could not run (non-zero exit, or no BENCH
# line), or skipped for a reason that is not in tests/skip-allowed.txt; a
# MISS of a goal is reported in the table and does not fail. See
# docs/testing.md.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build"
DO_BUILD=1
ONLY=()
while [ $# -gt 0 ]; do
        case $1 in
        --build-dir) BUILD=$(cd "${2:?--build-dir needs a directory}" 2>/dev/null && pwd || echo "$2"); shift 2 ;;
        --no-build) DO_BUILD=0; shift ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) ONLY+=("bench-${1#bench-}"); shift ;;
        esac
done

if [ "$DO_BUILD" -eq 1 ]; then
        [ -f "$BUILD/CMakeCache.txt" ] ||
                cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
        cmake --build "$BUILD" -j"$(nproc)" --target bench-deps || exit 1
fi
LIST="$BUILD/bench/benchmarks.txt"
[ -f "$LIST" ] || { echo "bench.sh: $LIST is missing (configure $BUILD with cmake)" >&2; exit 1; }
mapfile -t ALL < <(grep . "$LIST")
if [ "${#ONLY[@]}" -gt 0 ]; then
        for b in "${ONLY[@]}"; do
                printf '%s\n' "${ALL[@]}" | grep -qx -- "$b" ||
                        { echo "bench.sh: no benchmark $b (have: ${ALL[*]})" >&2; exit 2; }
        done
        RUN=("${ONLY[@]}")
else
        RUN=("${ALL[@]}")
fi
ALLOWED=$(sed 's/#.*//' "$ROOT/tests/skip-allowed.txt" | tr -s ' \t' '\n' | grep .)

LOGS="$BUILD/bench-logs"
mkdir -p "$LOGS"
ROWS=() FAILED=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
for b in "${RUN[@]}"; do
        echo "== $b"
        log="$LOGS/$b.log"
        t0=$SECONDS
        sh "$BUILD/bench/run/$b.sh" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        echo "== $b: exit $rc, $((SECONDS - t0)) s (log: $log)"
        n=0
        while read -r _ m ours base ratio goal verdict; do
                case $verdict in PASS | MISS) ;; *) continue ;; esac
                row "$m" "${ours#ours=}" "${base#base=}" "${ratio#ratio=}" "${goal#goal=}" "$verdict"
                n=$((n + 1))
        done < <(grep '^BENCH ' "$log")
        sk=$(grep -m1 '^BANGER-SKIP: ' "$log" | sed 's/^BANGER-SKIP: //')
        if [ "$rc" -ne 0 ]; then
                row "$b" - - - - "FAILED (exit $rc)"
                # The reason, so that the tail of a CI log says it.
                why=$(grep -m1 'could not run' "$log" || grep -v '^\[' "$log" | tail -3 | tr '\n' ' ')
                FAILED+=("$b: exit $rc: ${why:0:400}")
        elif [ -n "$sk" ] && [ "$n" -eq 0 ]; then
                id=${sk%%:*}
                row "$b" - - - - "SKIPPED ($sk)"
                grep -qx -- "$id" <<<"$ALLOWED" ||
                        FAILED+=("$b: skipped for '$id', not in tests/skip-allowed.txt")
        elif [ "$n" -eq 0 ]; then
                row "$b" - - - - "FAILED (no BENCH line)"
                FAILED+=("$b: printed no BENCH line")
        fi
done

OUT="$BUILD/bench-results.md"
{
        echo "# banger benchmarks"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
                "$(nproc) CPUs. ratio = ours / baseline (for bench-boot: the median of the paired" \
                "ratios); goal: the condition checked; a MISS does not fail the run."
        echo
        echo "| measure | ours | baseline | ratio | goal | result |"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
} > "$OUT"
echo
echo "== benchmark results ($OUT)"
cat "$OUT"
if [ "${#FAILED[@]}" -gt 0 ]; then
        echo
        printf 'FAIL: %s\n' "${FAILED[@]}"
        exit 1
fi
exit 0
