# Issue #23: containerd-shim-banger-v2's start protocol and task service over
# ttrpc, with a hand-written ttrpc client; no VM.
banger_add_script_test(integration_shim COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_shim.sh
  LABELS integration TIMEOUT 180)
