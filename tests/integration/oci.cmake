# lib/oci against real registries: Debian's docker-registry (open and
# htpasswd), a small Bearer token server, images built by oci_layout_tool and
# pushed with skopeo, pulled and flattened by oci_pull_tool.
set(_oci_it ${CMAKE_CURRENT_LIST_DIR})
add_executable(oci_pull_tool ${_oci_it}/oci_pull_tool.c)
target_link_libraries(oci_pull_tool PRIVATE bg_oci bg_ext4)
add_executable(oci_layout_tool ${_oci_it}/oci_layout_tool.c)
target_link_libraries(oci_layout_tool PRIVATE bg_oci PkgConfig::LIBARCHIVE PkgConfig::JANSSON)
add_executable(oci_token_server ${_oci_it}/oci_token_server.c)
target_link_libraries(oci_token_server PRIVATE bg_util PkgConfig::JANSSON Threads::Threads)
banger_add_script_test(integration_oci_registry COMMAND bash ${_oci_it}/test_oci_registry.sh
  LABELS integration TIMEOUT 300)
