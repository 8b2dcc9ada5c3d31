# Root tests of banger-netsvc: the real binary inside a fresh network
# namespace with a temp BANGER_HOME; skips (exit 77) without root or netns.
add_executable(netsvc_call ${CMAKE_CURRENT_LIST_DIR}/test_netsvc_call.c)
target_link_libraries(netsvc_call PRIVATE bg_rpc bg_proto bg_util)
banger_add_script_test(netsvc_netns
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_netsvc.sh $<TARGET_FILE:netsvc_call>
  LABELS root TIMEOUT 180)
# The jailer's chroot staging and detached start (stand-in jailer).
banger_add_script_test(netsvc_jail
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_netsvc_jail.sh $<TARGET_FILE:netsvc_call>
  LABELS root TIMEOUT 120)
