# Root tests of lib/hostnet: everything runs in fresh network
# namespaces; both skip (exit 77) without root or namespace support.
add_executable(hostnet_tool ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_tool.c)
target_link_libraries(hostnet_tool PRIVATE bg_hostnet bg_util Threads::Threads)

banger_add_test(test_hostnet_netns SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_netns.c
  LIBS bg_hostnet bg_util PkgConfig::HOSTNET_NFT LABELS root TIMEOUT 60)
banger_add_script_test(hostnet_nat
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/hostnet_nat.sh $<TARGET_FILE:hostnet_tool>
  LABELS root TIMEOUT 90)
