# QEMU VMM driver: adoption refusing reused PIDs, exit reasons, accel probe
# with fake QEMUs (test_vmm_qemu); the argv builder (test_vmm_qemu_argv); the
# QMP client against a fake server, query/pause/resume (test_vmm_qemu_qmp).
foreach(t "" _argv _qmp)
  banger_add_test(test_vmm_qemu${t}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vmm_qemu${t}.c
    LIBS bg_vmm_qemu Threads::Threads
    LABELS unit
    TIMEOUT 60)
endforeach()
