# Fuzz target over image bundles and the image catalog (what `image import`
# and `image pull --catalog` read from hostile files and servers; tests/fuzz/
# CMakeLists.txt has the conventions).
banger_fuzz_target(image_bundle SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_image_bundle.c
                   ${CMAKE_CURRENT_LIST_DIR}/fuzz_scratch.c LIBS imagesvc_core PkgConfig::ZSTD)
