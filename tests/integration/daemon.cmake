set(_it ${CMAKE_CURRENT_LIST_DIR})
banger_add_script_test(integration_daemon COMMAND bash ${_it}/test_daemon.sh LABELS integration TIMEOUT 120)
banger_add_script_test(integration_nngcat_client COMMAND bash ${_it}/test_nngcat_client.sh LABELS integration TIMEOUT 60)
banger_add_script_test(integration_cli COMMAND bash ${_it}/test_cli.sh LABELS integration TIMEOUT 60)
banger_add_script_test(integration_completion COMMAND bash ${_it}/test_completion.sh LABELS integration TIMEOUT 60)
# Issue #19 attack 8, CLI side: guest strings full of terminal escapes from a
# fake gateway are printed escaped; --json stays exact.
add_executable(fake_gateway ${CMAKE_CURRENT_LIST_DIR}/fake_gateway.c)
target_link_libraries(fake_gateway PRIVATE bg_rpc bg_proto bg_util)
banger_add_script_test(integration_cli_escape
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli_escape.sh $<TARGET_FILE:fake_gateway>
  LABELS integration TIMEOUT 60)
# Issue #22 items 4-6: lists, labels, many-VM verbs, --quiet/--verbose/colour.
banger_add_script_test(integration_cli_lists COMMAND bash ${_it}/test_cli_lists.sh LABELS integration TIMEOUT 180
  ENV "KERNEL_MKIMAGE=$<TARGET_FILE:test_kernel_mkimage>")
# testlib.sh's reaper: a test SIGKILLed at its TIMEOUT leaves no daemon,
# home or network namespace behind.
banger_add_script_test(integration_test_reaper COMMAND bash ${_it}/test_reaper.sh LABELS integration TIMEOUT 120)
