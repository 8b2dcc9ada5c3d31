banger_add_test(test_steps SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_steps.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
