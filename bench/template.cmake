# bench-template: `vm run --rm -- true` from a snapshot template against a
# cold boot (goal <= 0.1x), and the private memory of 8 clones of a 1 GiB
# template against one cold VM (goal <= 2x), in one run. Needs root.
add_custom_target(bench-template
  COMMAND ${CMAKE_COMMAND} -E env BANGER_BUILD_DIR=${CMAKE_BINARY_DIR}
    BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR}
    bash ${CMAKE_CURRENT_LIST_DIR}/template.sh
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files
  USES_TERMINAL)
set_property(GLOBAL APPEND PROPERTY BANGER_BENCH_TARGETS bench-template)
