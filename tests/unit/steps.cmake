banger_add_test(test_steps SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_steps.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_identity SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_identity.c
  LIBS vmsvc_core bg_disk bg_ext4 LABELS unit TIMEOUT 60)
banger_add_test(test_vm_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vm_store.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_reconcile SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_reconcile.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_ssh_files SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ssh_files.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_template_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_template_store.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
banger_add_test(test_probe_gate SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_probe_gate.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
# vm delete cut short when netsvc cannot give the address back: the row is
# stopped (not running with no process), reconcile gives no tap back twice,
# a second delete finishes it.
banger_add_test(test_vm_delete SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vm_delete.c
  LIBS vmsvc_core LABELS unit TIMEOUT 30)
