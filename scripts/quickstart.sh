#!/usr/bin/env bash
# Quick start: install what banger needs, build it, start its processes
# (user/dev mode, as root because banger-netsvc manages host networking), and
# run banger's main job once: a command in a fresh VM on the default image and
# kernel (both made on first use: a Debian kernel pulled and verified, a Debian
# image built with mmdebstrap; a minute or two).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/bin/banger daemon start
./build/bin/banger status
./build/bin/banger vm run --rm -- sh -c 'echo "hello from $(hostname): $(uname -sr), $(nproc) vCPU"'
cat <<'MSG'

That was a disposable VM. Next:
  ./build/bin/banger vm run --rm ./your-repo -- make test   your git workspace, in a VM
  ./build/bin/banger vm create --name dev                   a VM that stays (vm list, vm stop, vm delete)
  ./build/bin/banger --help                                 every command
  ./build/bin/banger daemon stop                            stop banger (running VMs keep running)
MSG
