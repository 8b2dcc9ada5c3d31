# bench-boot: `banger vm create` to agent-ready versus the raw QEMU command
# banger built, started by hand on the same kernel, initramfs and disks (median
# of 7 each, paired, in one run, in a fresh network namespace). Needs root.
banger_add_bench(bench-boot
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/boot.sh
  ENV BANGER_AGENT_BINARY=$<TARGET_FILE:banger-agent>
  DEPENDS banger banger-imagesvc banger-gateway banger-vmsvc banger-netsvc banger-workspacesvc
    banger-agent agent_e2e_tool guest-files)
