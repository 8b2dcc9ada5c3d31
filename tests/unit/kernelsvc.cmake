# lib/ops (long operations) and the kernel service's initramfs builder.
banger_add_test(test_ops
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops.c
  LIBS bg_ops
  LABELS unit TIMEOUT 30)

# Test modules are made with the compression libraries directly.
pkg_check_modules(KSVC_LZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(KSVC_ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(KSVC_LZ4 REQUIRED IMPORTED_TARGET liblz4)
find_package(BZip2 REQUIRED)
banger_add_test(test_initramfs
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_initramfs.c ${CMAKE_CURRENT_LIST_DIR}/kernel_testdata.c
  LIBS imagesvc_core PkgConfig::LIBARCHIVE PkgConfig::KSVC_LZMA PkgConfig::KSVC_ZLIB
       PkgConfig::KSVC_LZ4 PkgConfig::ZSTD BZip2::BZip2
  LABELS unit TIMEOUT 60)

# imagesvc: the name `image pull` gives an image.
banger_add_test(test_image_name
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_image_name.c
  LIBS imagesvc_core
  LABELS unit TIMEOUT 30)

# imagesvc: the Debian kernel catalog (`kernel catalog`, `kernel pull debian-*`).
banger_add_test(test_kernel_catalog
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernel_catalog.c
  LIBS imagesvc_core
  LABELS unit TIMEOUT 30)
