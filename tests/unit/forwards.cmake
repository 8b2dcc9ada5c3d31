# vmsvc's detached port forwards over a real vms.db and loopback sockets.
banger_add_test(test_forwards SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_forwards.c
  LIBS vmsvc_core LABELS unit TIMEOUT 60)
