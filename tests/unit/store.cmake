banger_add_test(test_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c
  LIBS bg_store bg_util Threads::Threads LABELS unit TIMEOUT 30)
banger_add_test(test_paths SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_paths.c
  LIBS bg_paths bg_util LABELS unit TIMEOUT 30)
banger_add_test(test_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log.c
  LIBS bg_log bg_util PkgConfig::JANSSON Threads::Threads LABELS unit TIMEOUT 30)
