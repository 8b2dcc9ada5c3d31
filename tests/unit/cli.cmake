# cli/term.c: guest-supplied text made safe for terminals (issue #19).
banger_add_test(test_cli_term SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_term.c
  ${CMAKE_SOURCE_DIR}/cli/term.c LABELS unit)
target_include_directories(test_cli_term PRIVATE ${CMAKE_SOURCE_DIR}/cli)
# cli/format.c, cli/output.c: list output (-q, --format, filters), colour
# and the global options (issue #22).
banger_add_test(test_cli_format SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_format.c
  ${CMAKE_SOURCE_DIR}/cli/format.c ${CMAKE_SOURCE_DIR}/cli/output.c ${CMAKE_SOURCE_DIR}/cli/term.c
  LIBS bg_rpc bg_log bg_util bg_paths LABELS unit)
target_include_directories(test_cli_format PRIVATE ${CMAKE_SOURCE_DIR}/cli)

# cli/cp_extract.c: vm cp's checked unpacking of a guest's tar (issue #22).
banger_add_test(test_cp_extract SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cp_extract.c
  ${CMAKE_SOURCE_DIR}/cli/cp_extract.c ${CMAKE_SOURCE_DIR}/cli/term.c
  LIBS bg_util PkgConfig::LIBARCHIVE LABELS unit)
target_include_directories(test_cp_extract PRIVATE ${CMAKE_SOURCE_DIR}/cli)
