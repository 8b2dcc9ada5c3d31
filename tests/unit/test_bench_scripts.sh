#!/usr/bin/env bash
# usage: test_bench_scripts.sh BUILD_DIR
# Fails when a benchmark in BUILD/bench/benchmarks.txt has no generated
# BUILD/bench/run/NAME.sh (what scripts/bench.sh runs), or the list is empty.
set -u
B=${1:?build dir}
LIST="$B/bench/benchmarks.txt"
[ -s "$LIST" ] || { echo "FAIL: $LIST is missing or empty"; exit 1; }
rc=0 n=0
while read -r name; do
        [ -n "$name" ] || continue
        n=$((n + 1))
        s="$B/bench/run/$name.sh"
        if [ ! -f "$s" ]; then
                echo "FAIL: $name is listed but $s does not exist (register it with banger_add_bench)"
                rc=1
        elif ! grep -q "^exec env " "$s"; then
                echo "FAIL: $s is not a banger_add_bench script"
                rc=1
        fi
done <"$LIST"
[ $rc -eq 0 ] && echo "ok: $n benchmarks, each with its script"
exit $rc
