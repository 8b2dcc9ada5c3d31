# lib/disk on real file systems in loop images: a Firecracker root disk is a
# reflink (FICLONE) on XFS with reflink=1 and a sparse copy on ext4. Needs
# root and loop devices (skips without); mkfs.xfs comes from xfsprogs
# (scripts/install-deps.sh), so its absence fails.
banger_add_test(test_disk_reflink SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_disk_reflink.c
  LIBS bg_disk bg_util LABELS root TIMEOUT 120)
