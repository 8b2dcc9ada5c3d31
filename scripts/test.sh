#!/usr/bin/env bash
# Installs what banger needs, builds it, and runs every test (ctest), then the
# same suite under ASan+UBSan, then a 20 s libFuzzer smoke run of every fuzz
# target (build-fuzz, ctest -L fuzz), then the benchmarks (scripts/bench.sh).
#
#   sudo scripts/test.sh            # everything (what CI runs)
#   scripts/test.sh --quick         # normal build + ctest only
#
# A test skips only for something this machine lacks (no KVM, not root, ...),
# saying so in a "BANGER-SKIP: <reason-id>: <text>" line. After each ctest
# run the skipped tests are listed with their reasons, and the run fails when
# a test skipped with a reason-id that is not in tests/skip-allowed.txt, or
# with none (tests/skip_check.py). A missing package, build output or fixture
# is a failure, not a skip. See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
JOBS=$(nproc)
# stage NAME: a header with the time spent so far, so a CI log shows where
# the minutes went.
stage() { echo "== $1 (at $((SECONDS / 60))m$((SECONDS % 60))s)"; }

bash scripts/install-deps.sh

build() { # build DIR [cmake args...]
        local dir="$1"; shift
        cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
        cmake --build "$dir" -j"$JOBS"
}

# run_ctest DIR [ctest args...]: the suite, then the skip list and check.
# Fails (after printing both) when a test failed or a skip is not allowed.
run_ctest() {
        local dir="$1" rc=0 skip_rc=0; shift
        local junit="$dir/Testing/banger-junit.xml"
        rm -f "$junit"
        ctest --test-dir "$dir" -j"$JOBS" --output-on-failure --timeout 1200 \
                --output-junit "$junit" --test-output-size-passed 4000000 "$@" || rc=$?
        echo "== skipped tests ($dir)"
        python3 "$ROOT/tests/skip_check.py" "$junit" "$ROOT/tests/skip-allowed.txt" || skip_rc=$?
        [ "$rc" -eq 0 ] || { echo "FAIL: ctest ($dir) exited $rc"; exit "$rc"; }
        [ "$skip_rc" -eq 0 ] || { echo "FAIL: a test skipped for a reason that is not allowed"; exit 1; }
}

stage "build (RelWithDebInfo)"
build "$ROOT/build"
stage "ctest"
run_ctest "$ROOT/build"

if [ "$QUICK" -eq 0 ]; then
        stage "build (ASan+UBSan)"
        build "$ROOT/build-asan" -DBANGER_SANITIZE=ON
        stage "ctest (ASan+UBSan)"
        run_ctest "$ROOT/build-asan" -LE e2e
        # libFuzzer smoke (tests/fuzz): every target fuzzed from its seeds for
        # 20 s, two at a time; a crash, leak, timeout or OOM fails the run.
        stage "build (libFuzzer+ASan+UBSan, clang-14)"
        cmake -S "$ROOT" -B "$ROOT/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                -DCMAKE_C_COMPILER=clang-14 -DBANGER_FUZZ=ON -DBANGER_FUZZ_SECONDS=20 >/dev/null
        cmake --build "$ROOT/build-fuzz" -j"$JOBS" --target fuzz-all
        stage "fuzz smoke (ctest -L fuzz)"
        rm -f "$ROOT"/build-fuzz/fuzz-out/*/result
        fuzz_rc=0
        (run_ctest "$ROOT/build-fuzz" -L fuzz) || fuzz_rc=$?
        cat "$ROOT"/build-fuzz/fuzz-out/*/result 2>/dev/null || true
        [ "$fuzz_rc" -eq 0 ] || exit "$fuzz_rc"
        stage "benchmarks"
        bash "$ROOT/scripts/bench.sh" --build-dir "$ROOT/build"
fi
stage "done"
