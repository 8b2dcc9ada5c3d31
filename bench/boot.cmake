# bench-boot: `banger vm create` to agent-ready versus the raw QEMU command
# banger built, started by hand on the same kernel, initramfs and disks (median
# of 7 each, paired, in one run, in a fresh network namespace). Needs root.
add_custom_target(bench-boot
  COMMAND ${CMAKE_COMMAND} -E env BANGER_BUILD_DIR=${CMAKE_BINARY_DIR}
    BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR} BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
    bash ${CMAKE_CURRENT_LIST_DIR}/boot.sh
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent agent_e2e_tool guest-files
  USES_TERMINAL)
set_property(GLOBAL APPEND PROPERTY BANGER_BENCH_TARGETS bench-boot)
