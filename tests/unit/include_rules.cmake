# One home for each thing (tests/unit/include_rules.py): no service includes
# another service's headers, nothing under lib/, cli/, gateway/ or guest/
# includes a service's header, no include cycles (between headers or file
# pairs), and no CMake target outside services/X links X's libraries. The
# self-test checks that each rule catches what it is for.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
banger_add_script_test(include_rules
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/include_rules.py ${CMAKE_SOURCE_DIR}
  LABELS unit TIMEOUT 60)
banger_add_script_test(include_rules_selftest
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/include_rules.py --self-test
  LABELS unit TIMEOUT 60)
