# bench-image-pull: `banger image pull` of a ~160 MB Debian rootfs in 4 layers
# from a loopback docker-registry (fresh imagesvc, empty cache) vs skopeo copy
# + umoci unpack + mkfs.ext4 -d; prints times, ratio and imagesvc's peak RSS
# with PASS/MISS against the goals (ratio >= 2, RSS < 64 MiB). The image is
# built once with mmdebstrap and cached in build/bench-cache. Needs root.
banger_add_bench(bench-image-pull
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/image_pull.sh
  DEPENDS banger banger-imagesvc banger-gateway banger-agent oci_layout_tool guest-files)
