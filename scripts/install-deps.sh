#!/usr/bin/env bash
# Installs everything banger needs to build, run and test, from Debian's archive.
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
  libnng-dev nng-utils
  libsqlite3-dev sqlite3
  libssh-dev libcurl4-openssl-dev libarchive-dev libext2fs-dev e2fsprogs
  libzstd-dev libjansson-dev libcmocka-dev
  libnl-3-dev libnl-route-3-dev libnftables-dev libldns-dev
  liblz4-dev liblzma-dev libbz2-dev zlib1g-dev libssl-dev
  libyaml-dev
  clang-14 libclang-rt-14-dev llvm-14 # libFuzzer + sanitizer runtimes, llvm-symbolizer (tests/fuzz)
)
RUN_PKGS=(
  qemu-system-x86 qemu-utils openssh-client mmdebstrap fakechroot fakeroot gpgv
  debian-archive-keyring
  nftables iproute2 ldnsutils bind9-dnsutils
  gnupg
  kmod jq rsync
  zsh fish
  docker-registry skopeo umoci apache2-utils
  python3
  xfsprogs # mkfs.xfs: tests/root/test_disk_reflink (a reflink-capable file system)
  systemd
  containerd # containerd + ctr for the shim's e2e test (shim/)
  busybox-static # a rootfs with no init and no sshd: tests/e2e/test_agent_init.sh (vm create --init agent)
  golang-github-containerd-containerd-dev golang-github-containerd-ttrpc-dev # origin of proto/containerd (README there)
  python3-grpcio python3-protobuf # tests/e2e/cri_client.py: containerd's CRI API (e2e_cri)
)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then
  want+=("${RUN_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
