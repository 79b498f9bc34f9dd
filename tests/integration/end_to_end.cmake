flashsale_add_test(test_end_to_end LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_end_to_end.cpp
  LIBS flashsale_test_support flashsale_db flashsale_amqp flashsale_common)
target_compile_definitions(test_end_to_end PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>")
add_dependencies(test_end_to_end flashsale-gateway flashsale-writer)

flashsale_add_test(test_node_config LABEL unit
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_node_config.cpp LIBS flashsale_test_support)
target_compile_definitions(test_node_config PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>")
add_dependencies(test_node_config flashsale-gateway flashsale-writer)
