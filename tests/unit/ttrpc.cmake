# lib/ttrpc: framing and the server (containerd's shim RPC).
banger_add_test(test_ttrpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ttrpc.c
  LIBS bg_ttrpc LABELS unit TIMEOUT 60)
# shim/: config.json mapping, containerd's flags, socket address, VM name.
banger_add_test(test_shim SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shim.c
  LIBS shim_core LABELS unit TIMEOUT 60)
