# A whole VM lifecycle through the CLI on a real VM (QEMU; TCG here).
banger_add_script_test(e2e_vm_lifecycle
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_vm_lifecycle.sh
  LABELS e2e root TIMEOUT 1500)
