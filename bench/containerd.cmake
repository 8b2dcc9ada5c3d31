# bench-containerd: `ctr run --rm` through containerd-shim-banger-v2 against
# `banger vm run --rm` for the same command (goal <= 1.2x), and the shim's
# RSS per running task. Needs root, containerd and ctr.
banger_add_bench(bench-containerd
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/containerd.sh
  ENV BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent guest-files containerd-shim-banger-v2)
