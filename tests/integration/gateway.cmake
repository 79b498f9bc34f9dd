# The gateway's HTTP API, sale window, operator commands and /metrics through real node processes
# (flashsale-gateway, flashsale-writer, flashsale-admin, flashsale-load) on the private services.
# FLASHSALE_* come from build/run/endpoints.env (scripts/test exports them).

# A sale of the test's own served by a real gateway (tests/support/gateway_fixture.hpp).
add_library(flashsale_gateway_test_support STATIC
  ${PROJECT_SOURCE_DIR}/tests/support/gateway_fixture.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/sale_fixture.cpp)
target_include_directories(flashsale_gateway_test_support PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(flashsale_gateway_test_support PUBLIC flashsale_test_support
  flashsale_orders_test_support flashsale_quota
  flashsale_db flashsale_amqp flashsale_common flashsale_admission nlohmann_json::nlohmann_json
  PostgreSQL::PostgreSQL
  GTest::gtest)
target_compile_definitions(flashsale_gateway_test_support PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>"
  FLASHSALE_ADMIN_BIN="$<TARGET_FILE:flashsale-admin>"
  FLASHSALE_LOAD_BIN="$<TARGET_FILE:flashsale-load>"
  FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(flashsale_gateway_test_support flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)

flashsale_add_test(test_gateway LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gateway.cpp
  LIBS flashsale_gateway_test_support)

# Restarts the shared RabbitMQ (scripts/services restart-one rabbit): runs alone.
add_executable(test_gateway_broker_restart
  ${CMAKE_CURRENT_LIST_DIR}/test_gateway_broker_restart.cpp)
target_link_libraries(test_gateway_broker_restart PRIVATE flashsale_gateway_test_support
  Threads::Threads GTest::gtest GTest::gtest_main)
target_include_directories(test_gateway_broker_restart PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(test_gateway_broker_restart PROPERTIES LABELS integration RUN_SERIAL TRUE
  TIMEOUT 600 DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
