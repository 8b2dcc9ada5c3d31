# Firecracker driver, API client, jailer helpers, and the contract test
# server that checks every request against shared/ref/firecracker-v1.16-api.yaml.
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)

add_library(fc_contract_server STATIC ${CMAKE_CURRENT_LIST_DIR}/fc_contract_server.c
  ${CMAKE_CURRENT_LIST_DIR}/fc_contract_spec.c ${CMAKE_CURRENT_LIST_DIR}/fc_contract_http.c)
target_include_directories(fc_contract_server PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(fc_contract_server PUBLIC bg_util PkgConfig::YAML PkgConfig::JANSSON)

# A fake `firecracker`: answers --version and serves the API socket with the
# contract server. Named firecracker so /proc/PID/exe looks like the real one.
add_executable(fc_fake_firecracker ${CMAKE_CURRENT_LIST_DIR}/test_fc_fake_firecracker.c)
target_link_libraries(fc_fake_firecracker PRIVATE fc_contract_server)
set_target_properties(fc_fake_firecracker PROPERTIES
  OUTPUT_NAME firecracker
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fc-fake)

banger_add_test(test_fc_contract
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fc_contract.c
  LIBS fc_contract_server Threads::Threads
  LABELS unit TIMEOUT 30)

foreach(t driver template version)
  banger_add_test(test_fc_${t}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fc_${t}.c
    LIBS bg_vmm_firecracker fc_contract_server bg_agent Threads::Threads
    LABELS unit TIMEOUT 60)
  add_dependencies(test_fc_${t} fc_fake_firecracker)
  target_compile_definitions(test_fc_${t} PRIVATE
    FC_FAKE_BINARY="$<TARGET_FILE:fc_fake_firecracker>")
endforeach()

foreach(t jailer jailer_stage)
  banger_add_test(test_fc_${t}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fc_${t}.c
    LIBS bg_vmm_firecracker
    LABELS unit TIMEOUT 30)
endforeach()
