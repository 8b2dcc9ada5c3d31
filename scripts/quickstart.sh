#!/usr/bin/env bash
# Quick start: install what banger needs, build it, start its processes
# (user/dev mode, as root because banger-netsvc manages host networking) and
# show their health.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/bin/banger daemon start
./build/bin/banger status
cat <<'MSG'

banger is running. Next steps:
  ./build/bin/banger --help          every command
  ./build/bin/banger status --json   machine-readable health
  ./build/bin/banger daemon stop     stop it again
MSG
