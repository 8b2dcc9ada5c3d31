# Tests of lib/kernel (bzImage/vmlinux, decompression, modules.dep) and
# lib/debrepo (Debian archive verification, apt sources, .deb unpacking).
# The test data generators compress with the libraries directly.
pkg_check_modules(KTEST_ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(KTEST_LZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(KTEST_LZ4 REQUIRED IMPORTED_TARGET liblz4)
find_package(BZip2 REQUIRED)
set(KTEST_COMPRESS_LIBS PkgConfig::KTEST_ZLIB PkgConfig::KTEST_LZMA PkgConfig::KTEST_LZ4
    PkgConfig::ZSTD BZip2::BZip2)

banger_add_test(test_kernel_bzimage
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernel_bzimage.c ${CMAKE_CURRENT_LIST_DIR}/kernel_testdata.c
  LIBS bg_kernel ${KTEST_COMPRESS_LIBS}
  LABELS unit TIMEOUT 120)

banger_add_test(test_kernel_modules
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernel_modules.c ${CMAKE_CURRENT_LIST_DIR}/kernel_testdata.c
  LIBS bg_kernel ${KTEST_COMPRESS_LIBS}
  LABELS unit TIMEOUT 60)

banger_add_test(test_debrepo
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_debrepo.c ${CMAKE_CURRENT_LIST_DIR}/kernel_testdata.c
  LIBS bg_debrepo ${KTEST_COMPRESS_LIBS} PkgConfig::LIBARCHIVE
  LABELS unit TIMEOUT 120)
