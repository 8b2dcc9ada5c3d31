#!/usr/bin/env bash
# Shared by e2e tests: finds a stock Debian cloud kernel to boot and prints its
# directory (holding boot/vmlinuz-* and lib/modules/<version>/) on stdout.
#
# $BANGER_TEST_KERNEL_DIR wins when set; else the Debian
# linux-image-*-cloud-amd64 package is fetched with `apt-get download` into a
# cache keyed by package and version ($XDG_CACHE_HOME/banger-test, else
# /var/cache/banger-test when writable, else ~/.cache/banger-test), so every
# test that boots a bare kernel shares one download.
# Fails (exit 1, "FAIL: set-up: ..." on stderr) when no kernel can be had: a
# Debian host with its mirror always has one, so that is a set-up failure.
#
# Usage: kernel_dir=$(bash fetch_kernel.sh) || exit $?
set -euo pipefail

fail_setup() { echo "FAIL: set-up: $*" >&2; exit 1; }

kernel_dir=${BANGER_TEST_KERNEL_DIR:-}
if [ -z "$kernel_dir" ]; then
  command -v apt-get >/dev/null && command -v apt-cache >/dev/null && command -v dpkg-deb >/dev/null ||
    fail_setup "no BANGER_TEST_KERNEL_DIR and no apt-get/apt-cache/dpkg-deb to fetch a kernel"
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    cache=$XDG_CACHE_HOME/banger-test
  elif mkdir -p /var/cache/banger-test 2>/dev/null && [ -w /var/cache/banger-test ]; then
    cache=/var/cache/banger-test
  else
    cache=$HOME/.cache/banger-test
  fi
  resolve() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true
  }
  pkg=$(resolve)
  # A machine whose package lists were never fetched: fetch them once.
  if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >&2 || true
    pkg=$(resolve)
  fi
  [ -n "$pkg" ] || fail_setup "cannot resolve linux-image-cloud-amd64 with apt-cache (apt-get update?)"
  ver=$(apt-cache show "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  kernel_dir=$cache/kernels/${pkg}_${ver}
  if [ ! -d "$kernel_dir" ]; then
    mkdir -p "$cache/kernels"
    tmp=$(mktemp -d "$cache/kernels/.fetch.XXXXXX")
    if ! (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>"$tmp/apt.err"); then
      cat "$tmp/apt.err" >&2 || true
      rm -rf "$tmp"
      fail_setup "could not download $pkg with apt-get download (mirror unreachable?)"
    fi
    dpkg-deb -x "$tmp"/*.deb "$tmp/root"
    mv "$tmp/root" "$kernel_dir" 2>/dev/null || true # another run may have won
    rm -rf "$tmp"
  fi
fi
bzimage=$(ls "$kernel_dir"/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$bzimage" ] || fail_setup "no boot/vmlinuz-* in $kernel_dir"
kver=${bzimage##*/vmlinuz-}
[ -d "$kernel_dir/lib/modules/$kver" ] || fail_setup "no lib/modules/$kver in $kernel_dir"
echo "$kernel_dir"
