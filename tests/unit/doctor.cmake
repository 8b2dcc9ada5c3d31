# lib/doctor: every doctor row's PASS/WARN/FAIL branch against a faked host,
# unit rendering, install.toml round trip.
banger_add_test(test_doctor SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_doctor.c
  LIBS bg_doctor LABELS unit TIMEOUT 30)
