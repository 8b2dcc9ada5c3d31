# Every benchmark scripts/bench.sh will run (BUILD/bench/benchmarks.txt) has
# its generated command (BUILD/bench/run/NAME.sh), so a benchmark registered
# by hand cannot reach CI's bench step without a script.
banger_add_script_test(test_bench_scripts
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_bench_scripts.sh ${CMAKE_BINARY_DIR}
  LABELS unit TIMEOUT 30)
