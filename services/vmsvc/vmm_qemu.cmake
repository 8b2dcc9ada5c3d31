# The QEMU microvm VMM driver (vmm.h's vmm_qemu_driver), its QMP client and
# the KVM/TCG probe. Included by services/vmsvc/CMakeLists.txt, and by the
# driver's tests when that does not include it (yet).
add_library(vmsvc_qemu STATIC
  ${CMAKE_CURRENT_LIST_DIR}/vmm_qemu.c
  ${CMAKE_CURRENT_LIST_DIR}/qmp.c
  ${CMAKE_CURRENT_LIST_DIR}/accel_probe.c)
target_include_directories(vmsvc_qemu PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(vmsvc_qemu PUBLIC bg_util PkgConfig::JANSSON)
