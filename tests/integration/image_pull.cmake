# `banger image pull` through the real banger-imagesvc + banger-gateway against
# Debian's docker-registry on loopback (images from oci_layout_tool, pushed
# with skopeo). The content check (umoci unpack vs the banger ext4 mounted
# through a loop device, compare_rootfs.py) needs root: label root, skips
# (exit 77) without root or loop devices.
banger_add_script_test(integration_image_pull
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_image_pull.sh full
  LABELS integration TIMEOUT 240)
banger_add_script_test(root_image_pull_content
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_image_pull.sh content
  LABELS root TIMEOUT 120)
# Issue #19 attack 4: a compression bomb and images over image.max_unpacked_size
# from a local registry are refused, naming the layer and the limit, and leave
# nothing behind.
banger_add_script_test(integration_image_limits
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_image_limits.sh
  LABELS integration TIMEOUT 300)
# Issue #21: vm create --image typo / REF / a missing kernel (auto-pull in
# VmService), vm create --no-start, banger ops and vm ping of stopped/unknown
# VMs, against the real processes and a local registry. Needs root (netsvc).
banger_add_script_test(integration_vm_autopull
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_vm_autopull.sh
  ENV "KERNEL_MKIMAGE=$<TARGET_FILE:test_kernel_mkimage>"
  LABELS integration TIMEOUT 180)
