# How a shell test or benchmark says it cannot run here, or that its set-up
# failed. Sourced by tests/integration/testlib.sh, by the scripts that do
# not use it and by the benchmarks.
#
# A skip is only for something this machine lacks, found by a machine check,
# with a reason-id from tests/skip-allowed.txt; scripts/test.sh fails the run
# on any other. A tool that scripts/install-deps.sh installs, a build output,
# a fixture, the Debian mirror or anything banger does itself is a failure.
#
#   skip REASON-ID TEXT...  prints "BANGER-SKIP: REASON-ID: TEXT", exits
#                           $BANGER_SKIP_EXIT (77, ctest's Skipped; the
#                           benchmarks set 0)
#   setup_fail TEXT...      prints "FAIL: set-up: TEXT", exits 1
#   need_root WHY           skip not-root unless uid 0
#   need_tools T...         every T is on PATH
#   need_built PATH...      every PATH exists (a build output)
#   need_mirror URL         the Debian mirror answers (the tests need it)

skip() {
        if [ $# -lt 2 ] || ! [[ $1 =~ ^[a-z0-9][a-z0-9-]*$ ]]; then
                echo "FAIL: skip needs a reason-id and a text (tests/skip-allowed.txt), got: $*"
                exit 1
        fi
        local id=$1
        shift
        echo "BANGER-SKIP: $id: $*"
        exit "${BANGER_SKIP_EXIT:-77}"
}

setup_fail() {
        echo "FAIL: set-up: $*"
        exit 1
}

need_root() {
        [ "$(id -u)" -eq 0 ] || skip not-root "needs root: $*"
}

need_tools() {
        local t missing=()
        for t in "$@"; do
                command -v "$t" >/dev/null || missing+=("$t")
        done
        [ "${#missing[@]}" -eq 0 ] ||
                setup_fail "not installed: ${missing[*]} (scripts/install-deps.sh installs them)"
}

need_built() {
        local p
        for p in "$@"; do
                [ -e "$p" ] || setup_fail "$p is missing (build the project: cmake --build build)"
        done
}

need_mirror() {
        curl -fsS -m 15 -o /dev/null "${1%/}/dists/bookworm/InRelease" ||
                setup_fail "the Debian mirror $1 does not answer (the test downloads from it)"
}
