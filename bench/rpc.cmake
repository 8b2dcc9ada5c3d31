# bench-rpc: Health calls client -> gateway -> vmsvc versus client -> vmsvc
# against the real processes (p50/p99, the gateway hop's cost).
add_executable(bench_rpc ${CMAKE_CURRENT_LIST_DIR}/bench_rpc.c)
target_link_libraries(bench_rpc PRIVATE bg_rpc bg_log bg_util bg_proto nng::nng Threads::Threads)
banger_add_bench(bench-rpc
  COMMAND $<TARGET_FILE:bench_rpc> 10000
  ENV BANGER_BIN_DIR=${CMAKE_BINARY_DIR}/bin
  DEPENDS bench_rpc banger banger-gateway banger-vmsvc banger-imagesvc banger-netsvc banger-workspacesvc)
