# scripts/test.sh's skip check (tests/skip_check.py) on junit files of real
# ctest runs, and tests/skip-allowed.txt against the reason-ids in use.
banger_add_script_test(test_skip_check
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_skip_check.sh
  LABELS unit TIMEOUT 60)
