set(_it ${CMAKE_CURRENT_LIST_DIR})
banger_add_script_test(integration_daemon COMMAND bash ${_it}/test_daemon.sh LABELS integration TIMEOUT 120)
banger_add_script_test(integration_nngcat_client COMMAND bash ${_it}/test_nngcat_client.sh LABELS integration TIMEOUT 60)
banger_add_script_test(integration_cli COMMAND bash ${_it}/test_cli.sh LABELS integration TIMEOUT 60)
