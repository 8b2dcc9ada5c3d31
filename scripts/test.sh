#!/usr/bin/env bash
# Installs what banger needs, builds it, and runs every test (ctest), then the
# same suite under ASan+UBSan, then the benchmarks that print their ratios.
#
#   sudo scripts/test.sh            # everything (what CI runs)
#   scripts/test.sh --quick         # normal build + ctest only
#
# Tests that cannot run here (no root, no KVM, missing tool) skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
JOBS=$(nproc)

bash scripts/install-deps.sh

build() { # build DIR [cmake args...]
        local dir="$1"; shift
        cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
        cmake --build "$dir" -j"$JOBS"
}

echo "== build (RelWithDebInfo)"
build "$ROOT/build"
echo "== ctest"
ctest --test-dir "$ROOT/build" -j"$JOBS" --output-on-failure --timeout 1200

if [ "$QUICK" -eq 0 ]; then
        echo "== build (ASan+UBSan)"
        build "$ROOT/build-asan" -DBANGER_SANITIZE=ON
        echo "== ctest (ASan+UBSan)"
        ctest --test-dir "$ROOT/build-asan" -j"$JOBS" --output-on-failure --timeout 1200 -LE e2e
        echo "== benchmarks"
        cmake --build "$ROOT/build" --target bench
fi
