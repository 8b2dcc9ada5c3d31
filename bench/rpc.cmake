add_executable(bench_rpc ${CMAKE_CURRENT_LIST_DIR}/bench_rpc.c)
target_link_libraries(bench_rpc PRIVATE bg_rpc bg_log bg_util bg_proto nng::nng Threads::Threads)
add_custom_target(bench-rpc
  COMMAND ${CMAKE_COMMAND} -E env BANGER_BIN_DIR=${CMAKE_BINARY_DIR}/bin $<TARGET_FILE:bench_rpc> 10000
  DEPENDS bench_rpc banger banger-gateway banger-vmsvc banger-imagesvc banger-netsvc banger-workspacesvc
  USES_TERMINAL)
set_property(GLOBAL APPEND PROPERTY BANGER_BENCH_TARGETS bench-rpc)
