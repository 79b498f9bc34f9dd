# HTTP server adapter and load generator: raw sockets against servers on port 0 (no external
# service needed).
flashsale_add_test(test_http_server LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_server.cpp LIBS flashsale_http)

flashsale_add_test(test_http_load LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_load.cpp LIBS flashsale_http flashsale_load_core
  flashsale_admission)
target_compile_definitions(test_http_load PRIVATE FLASHSALE_LOAD_BINARY="$<TARGET_FILE:flashsale-load>")
add_dependencies(test_http_load flashsale-load)
