banger_add_test(test_rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c
  LIBS bg_rpc vmsvc_core imagesvc_core workspacesvc_core netsvc_core gateway_core
  LABELS unit TIMEOUT 60)
