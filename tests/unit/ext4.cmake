# lib/ext4: image writer; needs e2fsck, debugfs and mkfs.ext4 (e2fsprogs), skips without.
banger_add_test(test_ext4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ext4.c
  LIBS bg_ext4 PkgConfig::EXT2FS LABELS unit TIMEOUT 300)
banger_add_test(test_ext4_read SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ext4_read.c
  LIBS bg_ext4 PkgConfig::EXT2FS LABELS unit TIMEOUT 300)
