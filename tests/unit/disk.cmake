banger_add_test(test_disk SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_disk.c
  LIBS bg_disk bg_util LABELS unit TIMEOUT 60)
banger_add_test(test_pidfile SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pidfile.c
  LIBS bg_util Threads::Threads LABELS unit TIMEOUT 30)
