# lib/fault: the test-only fault points (BANGER_FAULT).
banger_add_test(test_fault SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fault.c
  LIBS bg_fault LABELS unit TIMEOUT 60)
