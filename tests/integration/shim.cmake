# Issue #23: containerd-shim-banger-v2's start protocol and task service over
# ttrpc, with a hand-written ttrpc client; no VM.
banger_add_script_test(integration_shim COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_shim.sh
  LABELS integration TIMEOUT 180)
# The task's processes (Exec, stdin, signals, tty, Pids, Stats, events)
# against a fake gateway and a fake containerd events service.
add_executable(fake_shim_gateway ${CMAKE_CURRENT_LIST_DIR}/fake_shim_gateway.c)
target_link_libraries(fake_shim_gateway PRIVATE bg_rpc bg_proto bg_util)
banger_add_script_test(integration_shim_process
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_shim_process.sh $<TARGET_FILE:fake_shim_gateway>
  LABELS integration TIMEOUT 120)
