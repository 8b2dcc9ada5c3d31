# lib/oci: references, auth parsing, manifests (pure), and flattening tar
# layers generated in the test into ext4 images (needs e2fsck, skips without).
banger_add_test(test_oci_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_oci_ref.c
  LIBS bg_oci LABELS unit TIMEOUT 30)
banger_add_test(test_oci_manifest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_oci_manifest.c
  LIBS bg_oci LABELS unit TIMEOUT 30)
foreach(t "" _limits)
  banger_add_test(test_oci_flatten${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_oci_flatten${t}.c
    LIBS bg_oci bg_ext4 PkgConfig::LIBARCHIVE LABELS unit TIMEOUT 120)
endforeach()
