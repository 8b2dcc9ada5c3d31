# lib/update (banger update): manifest signature with a throwaway key, parsing,
# versions, the swap of installed binaries and its rollback.
pkg_check_modules(TEST_UPDATE_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
banger_add_test(test_update SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_update.c
  LIBS bg_update bg_kernel bg_util PkgConfig::TEST_UPDATE_CRYPTO LABELS unit TIMEOUT 30)
