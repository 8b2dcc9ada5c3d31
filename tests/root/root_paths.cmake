# Issue #19 attacks 1 and 2 as the owner makes them, against a real system
# install (systemd as PID 1 of a throwaway container): root must never act on
# a path the owner can swap. attack_sock_swap is the owner's tool.
add_executable(attack_sock_swap ${CMAKE_CURRENT_LIST_DIR}/attack_sock_swap.c)
banger_add_script_test(root_paths
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_root_paths.sh
    $<TARGET_FILE:attack_sock_swap> $<TARGET_FILE:netsvc_call>
  LABELS root TIMEOUT 600)
