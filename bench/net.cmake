# bench-net: tap pool warm-up (sequential vs parallel) and AcquireTap latency
# from a warm pool through the real banger-netsvc, in a fresh network
# namespace. Needs root.
add_executable(bench_net ${CMAKE_CURRENT_LIST_DIR}/bench_net.c)
target_link_libraries(bench_net PRIVATE netsvc_core bg_rpc bg_store bg_log bg_util bg_proto)
banger_add_bench(bench-net
  COMMAND $<TARGET_FILE:bench_net> 64
  ENV BANGER_BIN_DIR=${CMAKE_BINARY_DIR}/bin
  DEPENDS bench_net banger-netsvc)
