# Unit tests of lib/hostnet (no root, no network namespaces).
banger_add_test(test_hostnet_addr SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_addr.c
  LIBS bg_hostnet bg_util LABELS unit TIMEOUT 30)
banger_add_test(test_hostnet_nft SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_nft.c
  LIBS bg_hostnet bg_util LABELS unit TIMEOUT 30)
banger_add_test(test_hostnet_dns SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_dns.c
  LIBS bg_hostnet bg_util PkgConfig::HOSTNET_LDNS Threads::Threads LABELS unit TIMEOUT 60)
banger_add_test(test_hostnet_resolved SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostnet_resolved.c
  LIBS bg_hostnet bg_util LABELS unit TIMEOUT 30)
