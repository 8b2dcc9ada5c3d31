# lib/ops (long operations) and the kernel service's initramfs builder.
banger_add_test(test_ops
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops.c
  LIBS bg_ops
  LABELS unit TIMEOUT 30)
