# Issue #21 item 1 in system mode: `sudo banger update` against a real system
# install (systemd as PID 1 of a throwaway container) and a local HTTPS
# release server: the owner refused, a group-writable libexec dir refused,
# the signed release swapped into PREFIX/bin and PREFIX/libexec/banger with
# the units restarted and a process in vmsvc's cgroup kept, a release whose
# gateway exits rolled back.
banger_add_script_test(root_update_system
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_update_system.sh
  LABELS root TIMEOUT 300)
