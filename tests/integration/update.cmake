# Issue #21 item 1: `banger update` from a local HTTPS release server with a
# throwaway signing key: --check, a tampered manifest and a binary off its
# signed sha256 refused with nothing replaced, refused while an operation
# runs, the signed release swapped in with the services up again and a
# --no-start VM kept, a release whose gateway exits rolled back. Needs root
# (netsvc) and a local registry for the VM's image.
banger_add_script_test(integration_update
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_update.sh
  ENV "KERNEL_MKIMAGE=$<TARGET_FILE:test_kernel_mkimage>"
  LABELS integration TIMEOUT 300)
