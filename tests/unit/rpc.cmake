banger_add_test(test_rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c
  LIBS bg_rpc vmsvc_core imagesvc_core workspacesvc_core netsvc_core gateway_core
  LABELS unit TIMEOUT 60)
# The client redials after its peer hung up mid-handshake (nng's dialer gives up).
banger_add_test(test_rpc_redial SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc_redial.c
  LIBS bg_rpc LABELS unit TIMEOUT 60)
