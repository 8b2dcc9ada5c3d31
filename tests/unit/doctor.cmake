# lib/doctor: every doctor row's PASS/WARN/FAIL branch against a faked host
# (test_doctor); the system-install rows, unit rendering, install.toml round
# trip (test_doctor_install).
foreach(t "" _install)
  banger_add_test(test_doctor${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_doctor${t}.c
    LIBS bg_doctor LABELS unit TIMEOUT 30)
endforeach()
