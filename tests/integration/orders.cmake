# Issue 3, durable orders at speed: purchase_batch and adjust_stock against a real PostgreSQL, and
# the writer pipeline (flashsale-writer processes, RabbitMQ, PostgreSQL) under load and faults.
# FLASHSALE_PG_* and FLASHSALE_AMQP_* come from build/run/endpoints.env (scripts/test exports them).
add_library(flashsale_orders_test_support STATIC ${PROJECT_SOURCE_DIR}/tests/support/amqp_tools.cpp)
target_include_directories(flashsale_orders_test_support PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(flashsale_orders_test_support PUBLIC flashsale_amqp)

flashsale_add_test(test_orders_batch LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_orders_batch.cpp
  LIBS flashsale_test_support flashsale_db flashsale_common Threads::Threads)

flashsale_add_test(test_orders_routing LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_orders_routing.cpp
  LIBS flashsale_orders_test_support flashsale_actors)

flashsale_add_test(test_orders_pipeline LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_orders_pipeline.cpp
  LIBS flashsale_orders_test_support flashsale_test_support flashsale_db flashsale_amqp
    flashsale_messages flashsale_common)
target_compile_definitions(test_orders_pipeline PRIVATE
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>")
add_dependencies(test_orders_pipeline flashsale-writer)
