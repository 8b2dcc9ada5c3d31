# Sanitizer runtime options for every test (nng's detached reaper threads
# still hold memory at exit; that is nng's, not ours).
set(BANGER_TEST_ENV "")
if(BANGER_SANITIZE)
  set(BANGER_TEST_ENV "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()

# Tests that boot VMs run one at a time: on a 2-core machine two TCG guests
# starve each other, and they share the downloaded kernel cache.
function(banger_test_locks name labels)
  if("e2e" IN_LIST labels)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK banger_vm)
  endif()
endfunction()

# banger_add_test(NAME SOURCES a.c b.c LIBS x y LABELS unit|integration|e2e|root [TIMEOUT s])
# Builds a test executable and registers it with ctest under the given labels.
# Exit code 77 means "skipped": only for something the machine lacks, with a
# "BANGER-SKIP: <reason-id>: <text>" line (tests/skiplib.sh, tests/unit/skip.h)
# whose reason-id is in tests/skip-allowed.txt; scripts/test.sh checks both.
function(banger_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;ARGS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  banger_test_locks(${name} "${T_LABELS}")
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "BANGER_BUILD_DIR=${CMAKE_BINARY_DIR};BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR};BANGER_SHARED_DIR=${BANGER_SHARED_DIR};${BANGER_TEST_ENV};${T_ENV}")
endfunction()

# banger_add_script_test(NAME COMMAND cmd args... LABELS ...)
function(banger_add_script_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "COMMAND;LABELS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND})
  banger_test_locks(${name} "${T_LABELS}")
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "BANGER_BUILD_DIR=${CMAKE_BINARY_DIR};BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR};BANGER_SHARED_DIR=${BANGER_SHARED_DIR};${BANGER_TEST_ENV};${T_ENV}")
endfunction()
