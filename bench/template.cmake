# bench-template: `vm run --rm -- true` from a snapshot template against a
# cold boot (goal <= 0.1x), and the private memory of 8 clones of a 1 GiB
# template against one cold VM (goal <= 2x), in one run. Needs root.
banger_add_bench(bench-template
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/template.sh
  ENV BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files)
