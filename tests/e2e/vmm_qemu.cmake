# QEMU VMM driver end to end: boots a Debian cloud kernel through
# vmm_qemu_driver (accel probe, launch, agent Health, adopt, stop, kill, a bad
# kernel). Uses the agent e2e helpers (agent_e2e_init as the root disk's init,
# agent_e2e_tool mkcpio) from tests/e2e/agent.cmake.
add_executable(test_vmm_qemu_e2e ${CMAKE_CURRENT_LIST_DIR}/test_vmm_qemu.c)
target_link_libraries(test_vmm_qemu_e2e PRIVATE bg_vmm_qemu bg_agent)

banger_add_script_test(vmm_qemu_e2e
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_vmm_qemu.sh
    $<TARGET_FILE:banger-agent> $<TARGET_FILE:agent_e2e_init> $<TARGET_FILE:agent_e2e_tool>
    $<TARGET_FILE:test_vmm_qemu_e2e>
  LABELS e2e
  TIMEOUT 180)
