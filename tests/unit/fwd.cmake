# lib/fwd: TCP forwarding (vm forward), against a local echo server.
banger_add_test(test_fwd SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fwd.c LIBS bg_fwd LABELS unit TIMEOUT 60)
