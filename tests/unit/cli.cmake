# cli/term.c: guest-supplied text made safe for terminals (issue #19).
banger_add_test(test_cli_term SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli_term.c
  ${CMAKE_SOURCE_DIR}/cli/term.c LABELS unit)
target_include_directories(test_cli_term PRIVATE ${CMAKE_SOURCE_DIR}/cli)
