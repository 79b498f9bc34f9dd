# Live quotas against the private ZooKeeper and RabbitMQ (and PostgreSQL for the stock change):
# three gateway processes per test, each test with its own ZooKeeper root and queue. They measure
# failover and propagation times, so they run alone (RUN_SERIAL): a heavy test beside them makes
# the shared disk stall ZooKeeper's fsync for seconds and expires every session.
add_executable(test_quota_live ${CMAKE_CURRENT_LIST_DIR}/test_quota_live.cpp)
target_link_libraries(test_quota_live PRIVATE flashsale_test_support flashsale_quota flashsale_db
  flashsale_amqp flashsale_common Threads::Threads GTest::gtest GTest::gtest_main)
target_include_directories(test_quota_live PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(test_quota_live PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>"
  FLASHSALE_ADMIN_BIN="$<TARGET_FILE:flashsale-admin>")
add_dependencies(test_quota_live flashsale-gateway flashsale-writer flashsale-admin)
gtest_discover_tests(test_quota_live PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 300
  DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
