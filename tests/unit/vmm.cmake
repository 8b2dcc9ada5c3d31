# What every VMM driver shares (lib/vmm, bg_vmm): the kernel command line
# builder, the run-state table, paths and ids, the process (spawn, kill,
# adopt) and log helpers.
banger_add_test(test_vmm_cmdline SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vmm_cmdline.c
  LIBS bg_vmm LABELS unit TIMEOUT 30)
banger_add_test(test_vmm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vmm.c
  LIBS bg_vmm LABELS unit TIMEOUT 30)
# The console pump: the console log's cap with no service running.
banger_add_test(test_vmm_console SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vmm_console.c
  LIBS bg_vmm LABELS unit TIMEOUT 60)
