# Guest agent (guest/agent) and its host client (lib/agent).
foreach(t cmdline ports frame client serve setup recv reid exec pid1 enter)
  banger_add_test(test_agent_${t}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_agent_${t}.c
    LIBS bg_agent_guest bg_agent Threads::Threads
    LABELS unit
    TIMEOUT 30)
endforeach()
