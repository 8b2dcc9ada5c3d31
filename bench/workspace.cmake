# bench-workspace: a 10 000-file / 100 MB repository into a VM by offline
# injection (vm create --workspace), by vm workspace prepare, and by rsync -a
# over ssh (the baseline), in one run. Needs root.
add_custom_target(bench-workspace
  COMMAND ${CMAKE_COMMAND} -E env BANGER_BUILD_DIR=${CMAKE_BINARY_DIR}
    BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR} BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
    bash ${CMAKE_CURRENT_LIST_DIR}/workspace.sh
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files
  USES_TERMINAL)
set_property(GLOBAL APPEND PROPERTY BANGER_BENCH_TARGETS bench-workspace)
