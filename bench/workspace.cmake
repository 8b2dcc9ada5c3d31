# bench-workspace: a 10 000-file / 100 MB repository into a VM by offline
# injection (vm create --workspace), by vm workspace prepare, and by rsync -a
# over ssh (the baseline), in one run. Needs root.
banger_add_bench(bench-workspace
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/workspace.sh
  ENV BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files)
