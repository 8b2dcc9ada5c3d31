# Unit tests of services/netsvc (no root, no network namespaces).
banger_add_test(test_netsvc_ipam SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_netsvc_ipam.c
  LIBS netsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_netsvc_validate SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_netsvc_validate.c
  LIBS netsvc_core LABELS unit TIMEOUT 30)
