# Guest agent end to end: boot a Debian cloud kernel under QEMU TCG with an
# initramfs holding banger-agent as /init, talk to the agent over
# virtio-serial, shut the VM down through it.
add_executable(agent_e2e_tool ${CMAKE_CURRENT_LIST_DIR}/agent_e2e_tool.c)
target_link_libraries(agent_e2e_tool PRIVATE bg_agent PkgConfig::LIBARCHIVE)

add_executable(agent_e2e_init ${CMAKE_CURRENT_LIST_DIR}/agent_e2e_init.c)
foreach(prop COMPILE_OPTIONS LINK_OPTIONS)
  get_target_property(opts agent_e2e_init ${prop})
  if(opts)
    list(FILTER opts EXCLUDE REGEX "sanitize")
    set_target_properties(agent_e2e_init PROPERTIES ${prop} "${opts}")
  endif()
endforeach()
target_link_options(agent_e2e_init PRIVATE -static)

banger_add_script_test(agent_e2e_boot
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/agent_boot.sh
    $<TARGET_FILE:banger-agent> $<TARGET_FILE:agent_e2e_init> $<TARGET_FILE:agent_e2e_tool>
  LABELS e2e
  TIMEOUT 600)
