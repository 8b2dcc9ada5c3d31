# Fuzz targets over config, RPC, agent, DNS, kernel and Debian repository
# parsing (tests/fuzz/CMakeLists.txt has the conventions).
banger_fuzz_target(toml SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_toml.c LIBS bg_config)
