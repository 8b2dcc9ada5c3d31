# The Firecracker VMM driver (vmm_firecracker.c), its API client (fc_api.c)
# and the jailer planning/staging helpers (fc_jailer.c) netsvc uses.
# Included by services/vmsvc/CMakeLists.txt and, when that does not (yet),
# by tests/unit/firecracker.cmake.
include_guard(GLOBAL)

add_library(vmsvc_firecracker STATIC
  ${CMAKE_CURRENT_LIST_DIR}/vmm_firecracker.c
  ${CMAKE_CURRENT_LIST_DIR}/fc_api.c
  ${CMAKE_CURRENT_LIST_DIR}/fc_jailer.c)
target_include_directories(vmsvc_firecracker PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(vmsvc_firecracker PUBLIC bg_util PkgConfig::LIBCURL PkgConfig::JANSSON)
