banger_add_test(test_disk SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_disk.c
  LIBS bg_disk bg_util LABELS unit TIMEOUT 60)
