# Shared by agent_boot.sh and test_vmm_qemu.sh (sourced, bash): the images a
# bare banger-agent boot needs. Callers define fail() and set -euo pipefail.

# agent_initrd AGENT TOOL MODDIR KVER WORK OUT.cpio
# The banger initramfs: AGENT as /init and the virtio modules of the kernel
# whose module tree is MODDIR (release KVER), in dependency order (read from
# each module's .modinfo) and listed in /lib/banger/modules.order. WORK is a
# scratch directory. Prints the modules chosen.
agent_initrd() {
  local agent=$1 tool=$2 moddir=$3 kver=$4 work=$5 out=$6
  local initrd_dir=$work/initrd rel m
  mkdir -p "$initrd_dir/lib/banger" "$initrd_dir/dev" "$initrd_dir/proc" "$initrd_dir/sys"
  cp "$agent" "$initrd_dir/init"
  ko_file() { # module name -> its file under $moddir (names match with - or _)
    local n=$1 alt=${1//_/-}
    find "$moddir/kernel" \( -name "$n.ko*" -o -name "$alt.ko*" \) -print -quit
  }
  ko_depends() { # file -> names from its .modinfo depends=
    local f=$1 plain=$work/modinfo.ko
    case $f in
      *.xz) xz -dc "$f" >"$plain" ;;
      *.zst) zstd -qdc "$f" >"$plain" ;;
      *.gz) gzip -dc "$f" >"$plain" ;;
      *) cp "$f" "$plain" ;;
    esac
    objcopy -O binary --only-section=.modinfo "$plain" "$work/modinfo.bin"
    tr '\0' '\n' <"$work/modinfo.bin" | sed -n 's/^depends=//p' | tr ',' ' '
  }
  declare -A seen=()
  local -a order=()
  visit() {
    local name=$1 f dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    f=$(ko_file "$name")
    if [ -z "$f" ]; then
      grep -q "/$name.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
      fail "module $name not found in $moddir"
    fi
    for dep in $(ko_depends "$f"); do visit "$dep"; done
    order+=("${f#"$moddir"/}")
  }
  for m in virtio_mmio virtio_blk virtio_console virtio_net; do visit "$m"; done
  : >"$initrd_dir/lib/banger/modules.order"
  for rel in "${order[@]}"; do
    mkdir -p "$initrd_dir/lib/modules/$kver/$(dirname "$rel")"
    cp "$moddir/$rel" "$initrd_dir/lib/modules/$kver/$rel"
    echo "$rel" >>"$initrd_dir/lib/banger/modules.order"
  done
  echo "modules: ${order[*]}"
  "$tool" mkcpio "$initrd_dir" "$out" || fail "could not write the initramfs"
}

# agent_rootfs AGENT E2E_INIT WORK OUT.img
# A 64 MiB ext4 root disk whose PID 1 is E2E_INIT (it runs `banger-agent
# init`, then execs `banger-agent serve`).
agent_rootfs() {
  local agent=$1 init=$2 work=$3 out=$4 root_dir=$3/rootfs
  mkdir -p "$root_dir"/{sbin,proc,sys,dev,root,tmp,etc}
  cp "$agent" "$root_dir/sbin/banger-agent"
  cp "$init" "$root_dir/sbin/e2e-init"
  truncate -s 64M "$out"
  mkfs.ext4 -q -F -E root_owner=0:0 -d "$root_dir" "$out" || fail "mkfs.ext4 -d failed"
}
