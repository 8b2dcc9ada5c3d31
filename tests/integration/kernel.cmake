# KernelService end to end through `banger` and the real processes, with
# synthetic kernels made by a small helper (the lib/kernel test generators).
pkg_check_modules(KIT_ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(KIT_LZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(KIT_LZ4 REQUIRED IMPORTED_TARGET liblz4)
find_package(BZip2 REQUIRED)
add_executable(test_kernel_mkimage
  ${CMAKE_CURRENT_LIST_DIR}/test_kernel_mkimage.c ${CMAKE_SOURCE_DIR}/tests/unit/kernel_testdata.c)
target_include_directories(test_kernel_mkimage PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(test_kernel_mkimage PRIVATE bg_kernel PkgConfig::KIT_ZLIB PkgConfig::KIT_LZMA
  PkgConfig::KIT_LZ4 PkgConfig::ZSTD BZip2::BZip2)

banger_add_script_test(integration_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_kernel.sh
  ENV "KERNEL_MKIMAGE=$<TARGET_FILE:test_kernel_mkimage>"
  LABELS integration TIMEOUT 180)
