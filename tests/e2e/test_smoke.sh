#!/usr/bin/env bash
# e2e_smoke: scripts/smoke.sh (doctor preflight, fresh state, every verb
# once, two VMs) on real VMs inside a fresh network namespace, with the
# kernel and default image e2e_setup keeps in BUILD/e2e-cache.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip curl git

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
T_PASSES=${T_PASSES:-0}

t0=$(date +%s)
check "scripts/smoke.sh" env BANGER="$B" BANGER_HOME="$BANGER_HOME" bash "$BANGER_SOURCE_DIR/scripts/smoke.sh"
echo "  smoke: $(( $(date +%s) - t0 )) s"
finish
