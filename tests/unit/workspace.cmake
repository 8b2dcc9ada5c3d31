banger_add_test(test_workspace SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_workspace.c
  LIBS workspacesvc_core LABELS unit TIMEOUT 60)
banger_add_test(test_ws_agent SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ws_agent.c
  LIBS workspacesvc_core bg_agent_guest LABELS unit TIMEOUT 60)
