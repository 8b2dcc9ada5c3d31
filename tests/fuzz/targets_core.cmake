# Fuzz targets over config, RPC, agent, DNS, kernel and Debian repository
# parsing (tests/fuzz/CMakeLists.txt has the conventions).
banger_fuzz_target(toml SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_toml.c LIBS bg_config)
banger_fuzz_target(rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_rpc.c
  LIBS bg_rpc netsvc_core bg_hostnet bg_util bg_log bg_proto PkgConfig::JANSSON)
banger_fuzz_target(agent SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent.c
  LIBS bg_agent Threads::Threads)
