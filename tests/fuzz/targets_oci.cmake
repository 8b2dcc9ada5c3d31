# Fuzz targets over what registries, images and guests hand banger's OCI and
# ext4 code (tests/fuzz/CMakeLists.txt has the conventions; seeds are made by
# tests/fuzz/gen_oci_seeds.py).
set(_d ${CMAKE_CURRENT_LIST_DIR})
banger_fuzz_target(oci_manifest SOURCES ${_d}/fuzz_oci_manifest.c LIBS bg_oci)
banger_fuzz_target(oci_ref SOURCES ${_d}/fuzz_oci_ref.c LIBS bg_oci)
banger_fuzz_target(oci_auth SOURCES ${_d}/fuzz_oci_auth.c LIBS bg_oci)
banger_fuzz_target(oci_flatten SOURCES ${_d}/fuzz_oci_flatten.c ${_d}/fuzz_scratch.c
                   LIBS bg_oci bg_ext4)
banger_fuzz_target(ext4_read SOURCES ${_d}/fuzz_ext4_read.c ${_d}/fuzz_scratch.c LIBS bg_ext4)
