# lib/util: the helpers every module shares.
foreach(t array fileio fs labels run strtable time)
  banger_add_test(test_util_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_util_${t}.c
    LIBS bg_util LABELS unit TIMEOUT 60)
endforeach()
