banger_add_test(test_workspace SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_workspace.c
  LIBS workspacesvc_core LABELS unit TIMEOUT 60)
