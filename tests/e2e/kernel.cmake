# `banger kernel pull debian-cloud-amd64` from the real Debian mirror (skips
# when it is unreachable). Downloads are cached in BUILD/e2e-kernel-cache.
banger_add_script_test(e2e_kernel_pull
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_kernel_pull.sh
  LABELS e2e TIMEOUT 1200)
