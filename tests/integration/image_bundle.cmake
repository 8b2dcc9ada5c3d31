# Issue #21 item 2: image register/export/import/catalog pull/promote against
# the real processes and a local HTTP catalog (python3 -m http.server). No VM
# boots; needs root (vm create starts netsvc). Also: vm create without
# --kernel takes the image's recorded kernel, and an image import of a 3000
# MiB sparse bundle cancelled in its unpack stage (the second import of it
# makes this test take ~2 min alone, ~5 under a loaded -j2 run).
banger_add_script_test(integration_image_bundle
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_image_bundle.sh
  ENV "KERNEL_MKIMAGE=$<TARGET_FILE:test_kernel_mkimage>"
  LABELS integration TIMEOUT 600)
# image.max_catalog_calls: catalog reads on a pool of their own, a fifth
# refused as busy while four trickle in, other calls answering meanwhile
# (~60 s: the trickling server takes ~25 s per read).
banger_add_script_test(integration_catalog_busy
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_catalog_busy.sh
  LABELS integration TIMEOUT 240)
