# QEMU VMM driver: argv builder, QMP client against a fake server, adoption
# refusing reused PIDs, exit reasons, accel probe with fake QEMUs.
banger_add_test(test_vmm_qemu
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vmm_qemu.c
  LIBS bg_vmm_qemu Threads::Threads
  LABELS unit
  TIMEOUT 60)
