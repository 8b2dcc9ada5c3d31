# lib/config: TOML reader and banger's config schema.
add_library(toml_json STATIC ${CMAKE_CURRENT_LIST_DIR}/toml_json.c)
target_link_libraries(toml_json PUBLIC bg_config PkgConfig::JANSSON)

add_executable(toml_decoder ${CMAKE_CURRENT_LIST_DIR}/toml_decoder.c)
target_link_libraries(toml_decoder PRIVATE toml_json)

add_executable(toml_test_runner ${CMAKE_CURRENT_LIST_DIR}/toml_test_runner.c)
target_link_libraries(toml_test_runner PRIVATE bg_util PkgConfig::JANSSON m)

banger_add_script_test(toml_test_1_0
  COMMAND toml_test_runner $<TARGET_FILE:toml_decoder>
  LABELS unit TIMEOUT 120)

banger_add_test(test_toml SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_toml.c
  LIBS bg_config LABELS unit TIMEOUT 30)
banger_add_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c
  LIBS bg_config LABELS unit TIMEOUT 30)
