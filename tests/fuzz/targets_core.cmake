# Fuzz targets over config, RPC, agent, DNS, kernel and Debian repository
# parsing (tests/fuzz/CMakeLists.txt has the conventions).
banger_fuzz_target(toml SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_toml.c LIBS bg_config)
banger_fuzz_target(rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_rpc.c
  LIBS bg_rpc netsvc_core bg_hostnet bg_util bg_log bg_proto PkgConfig::JANSSON)
banger_fuzz_target(agent SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent.c
  LIBS bg_agent Threads::Threads)
banger_fuzz_target(config SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_config.c LIBS bg_config)
banger_fuzz_target(dns SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_dns.c LIBS bg_hostnet PkgConfig::HOSTNET_LDNS)
banger_fuzz_target(modules SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_modules.c LIBS bg_kernel)
banger_fuzz_target(bzimage SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_bzimage.c LIBS bg_kernel)
banger_fuzz_target(deb_release SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_deb_release.c LIBS bg_debrepo)
banger_fuzz_target(deb_packages SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_deb_packages.c LIBS bg_debrepo)
banger_fuzz_target(ttrpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_ttrpc.c LIBS bg_ttrpc)
