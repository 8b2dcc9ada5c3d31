# bench-agent-stall: p99 of `vm list` while 12 concurrent `vm ports` loops
# probe one VM, first with its agent answering (the baseline), then with the
# agent SIGSTOPped inside the guest (issue #19 attack 5), in one run; goal
# ratio <= 2. Needs root.
banger_add_bench(bench-agent-stall
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/agent_stall.sh
  ENV BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files)
