#!/usr/bin/env bash
# Fuzzes one libFuzzer target for a fixed time from its seeds; fails on any
# crash, leak, timeout or out-of-memory, leaving the reproducer on disk.
#
#   fuzz_smoke.sh BINARY NAME SECONDS OUTDIR FUZZDIR
#
# FUZZDIR is tests/fuzz: seeds in corpus/NAME/, crash regressions in
# regress/NAME/ (both fed in), dictionary NAME.dict and extra libFuzzer flags
# NAME.options (one per line) when present. The run starts from a fresh copy
# of the seeds in OUTDIR/NAME/corpus (new inputs land there, the checked-in
# corpus is not touched); reproducers go to OUTDIR/NAME/artifacts/ and the
# full log to OUTDIR/NAME/fuzz.log. The last line (also written to
# OUTDIR/NAME/result) is a summary read by scripts/fuzz.sh and scripts/test.sh:
#   fuzz-result NAME status=ok|FAIL execs=N exec_per_s=N cov=N ft=N corpus=N seconds=N
set -uo pipefail

if [ $# -ne 5 ]; then
        echo "usage: $0 BINARY NAME SECONDS OUTDIR FUZZDIR" >&2
        exit 2
fi
bin=$1 name=$2 secs=$3 outdir=$4 fuzzdir=$5
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd) fuzzdir=$(cd "$fuzzdir" && pwd) bin=$(realpath "$bin")

if [ ! -x "$bin" ]; then
        echo "FAIL: $bin is not built (cmake --build <dir> --target fuzz-all)"
        exit 1
fi
if [ ! -d "$fuzzdir/corpus/$name" ] || [ -z "$(ls -A "$fuzzdir/corpus/$name")" ]; then
        echo "FAIL: no seeds in $fuzzdir/corpus/$name"
        exit 1
fi

work=$outdir/$name
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
cp -p "$fuzzdir/corpus/$name"/* "$work/corpus/"
log=$work/fuzz.log

args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/artifacts/" -close_fd_mask=1)
[ -f "$fuzzdir/$name.dict" ] && args+=(-dict="$fuzzdir/$name.dict")
if [ -f "$fuzzdir/$name.options" ]; then
        while read -r opt; do
                case "$opt" in '' | '#'*) continue ;; esac
                args+=("$opt")
        done <"$fuzzdir/$name.options"
fi
dirs=("$work/corpus")
[ -d "$fuzzdir/regress/$name" ] && dirs+=("$fuzzdir/regress/$name")

# Artifacts from an earlier run would be mistaken for this run's.
rm -f "$work/artifacts"/* "$work/result"

# Symbolized stacks: Debian's llvm-14 has llvm-symbolizer outside PATH.
if ! command -v llvm-symbolizer >/dev/null && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
        export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
supp=$fuzzdir/../lsan.supp # tests/lsan.supp
[ -f "$supp" ] || supp=/dev/null
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp}

echo "fuzz $name: $bin ${args[*]} ${dirs[*]}"
"$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
rc=$?

# Final numbers: libFuzzer's last status line ("#N DONE cov: X ft: Y corp: Z/..")
# and its -print_final_stats lines.
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
field() { sed -nE "s/.* $1: ([0-9]+).*/\\1/p" <<<"$last"; }
stat() { sed -nE "s/^stat::$1: *([0-9]+).*/\\1/p" "$log" | tail -n 1; }
cov=$(field cov) ft=$(field ft)
corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
execs=$(stat number_of_executed_units)
eps=$(stat average_exec_per_sec)

artifacts=$(ls -1 "$work/artifacts" 2>/dev/null)
status=ok
if [ $rc -ne 0 ] || [ -n "$artifacts" ]; then
        status=FAIL
        echo "---- $log (tail)"
        tail -n 60 "$log"
        echo "----"
        echo "FAIL: fuzz target $name: libFuzzer exited $rc"
        for a in $artifacts; do
                echo "  reproducer: $work/artifacts/$a"
                echo "    replay:   $bin $work/artifacts/$a"
                echo "    keep it:  cp $work/artifacts/$a $fuzzdir/regress/$name/<what-it-finds>"
        done
fi
echo "fuzz-result $name status=$status execs=${execs:-0} exec_per_s=${eps:-0} cov=${cov:-0} ft=${ft:-0} corpus=${corp:-0} seconds=$secs" |
        tee "$work/result"
# libFuzzer's crash exit code is 77, which ctest would read as "skipped".
[ "$status" = ok ] || exit 1
exit 0
