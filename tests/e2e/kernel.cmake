# `banger kernel pull debian-cloud-amd64` from the real Debian mirror (skips
# when it is unreachable), then that kernel and its banger initramfs boot a
# small test root disk under QEMU (agent_boot.sh, with the agent e2e helpers
# from agent.cmake). Downloads are cached in BUILD/e2e-kernel-cache.
banger_add_script_test(e2e_kernel_pull
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_kernel_pull.sh
  LABELS e2e TIMEOUT 1200
  ENV "BANGER_E2E_INIT=$<TARGET_FILE:agent_e2e_init>;BANGER_E2E_TOOL=$<TARGET_FILE:agent_e2e_tool>")
