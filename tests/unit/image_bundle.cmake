# imagesvc: image bundles (manifest, hostile archives) and the image catalog.
banger_add_test(test_image_bundle
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_image_bundle.c
  LIBS imagesvc_core PkgConfig::ZSTD
  LABELS unit TIMEOUT 60)
