# Fault injection on a small cluster of real node processes (tests/cluster/cluster_fixture.hpp):
# several gateways and writers on one sale, flashsale-load over every gateway, and a fault in the
# middle of the load (kill -9, SIGSTOP, RabbitMQ stopped, PostgreSQL restarted). They stop and
# restart the shared services and measure a sale end to end, so they run alone (RUN_SERIAL).
# FLASHSALE_* come from build/run/endpoints.env (scripts/test exports them).

add_library(flashsale_cluster_test_support STATIC ${CMAKE_CURRENT_LIST_DIR}/cluster_fixture.cpp)
target_include_directories(flashsale_cluster_test_support PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(flashsale_cluster_test_support PUBLIC flashsale_gateway_test_support
  flashsale_test_support flashsale_quota flashsale_db flashsale_amqp flashsale_common
  PostgreSQL::PostgreSQL GTest::gtest)
target_compile_definitions(flashsale_cluster_test_support PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>"
  FLASHSALE_ADMIN_BIN="$<TARGET_FILE:flashsale-admin>"
  FLASHSALE_LOAD_BIN="$<TARGET_FILE:flashsale-load>"
  FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(flashsale_cluster_test_support flashsale-gateway flashsale-writer
  flashsale-admin flashsale-load)

add_executable(test_cluster_faults ${CMAKE_CURRENT_LIST_DIR}/test_cluster_faults.cpp)
target_link_libraries(test_cluster_faults PRIVATE flashsale_cluster_test_support
  Threads::Threads GTest::gtest GTest::gtest_main)
target_include_directories(test_cluster_faults PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(test_cluster_faults PRIVATE
  FLASHSALE_GATEWAY_BIN="$<TARGET_FILE:flashsale-gateway>"
  FLASHSALE_WRITER_BIN="$<TARGET_FILE:flashsale-writer>"
  FLASHSALE_ADMIN_BIN="$<TARGET_FILE:flashsale-admin>"
  FLASHSALE_LOAD_BIN="$<TARGET_FILE:flashsale-load>"
  FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(test_cluster_faults flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)
gtest_discover_tests(test_cluster_faults PROPERTIES LABELS cluster RUN_SERIAL TRUE TIMEOUT 300
  DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

add_executable(test_cluster_sale ${CMAKE_CURRENT_LIST_DIR}/test_cluster_sale.cpp)
target_link_libraries(test_cluster_sale PRIVATE flashsale_cluster_test_support
  GTest::gtest GTest::gtest_main)
target_include_directories(test_cluster_sale PRIVATE ${PROJECT_SOURCE_DIR})
add_dependencies(test_cluster_sale flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)
gtest_discover_tests(test_cluster_sale PROPERTIES LABELS cluster RUN_SERIAL TRUE TIMEOUT 300
  DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

# Faults of the replicated engines (scripts/services --replicated): run by scripts/test with the
# replicated profile's endpoints; skipped without them.
add_executable(test_replicated_faults ${CMAKE_CURRENT_LIST_DIR}/test_replicated_faults.cpp)
target_link_libraries(test_replicated_faults PRIVATE flashsale_cluster_test_support
  GTest::gtest GTest::gtest_main)
target_include_directories(test_replicated_faults PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(test_replicated_faults PRIVATE FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(test_replicated_faults flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)
gtest_discover_tests(test_replicated_faults PROPERTIES LABELS replicated RUN_SERIAL TRUE
  TIMEOUT 400 DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

# The harness's hosts (scripts/hosts): network namespaces on a bridge of the test's own, partitions,
# losses, and the private services on a host of their own (a scripts/services run of the test's,
# in its own namespace: its ports do not collide with the shared services'). Needs root.
add_executable(test_hosts ${CMAKE_CURRENT_LIST_DIR}/test_hosts.cpp)
target_link_libraries(test_hosts PRIVATE flashsale_test_support PostgreSQL::PostgreSQL
  Threads::Threads GTest::gtest GTest::gtest_main)
target_include_directories(test_hosts PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(test_hosts PRIVATE FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
gtest_discover_tests(test_hosts PROPERTIES LABELS cluster TIMEOUT 120 DISCOVERY_TIMEOUT 30
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

# The seed sale with every node on a host of its own and the services on another (scripts/hosts,
# FLASHSALE_SERVICES_ADDRESS). Starts services of its own; needs root.
add_executable(test_cluster_hosts ${CMAKE_CURRENT_LIST_DIR}/test_cluster_hosts.cpp)
target_link_libraries(test_cluster_hosts PRIVATE flashsale_cluster_test_support
  GTest::gtest GTest::gtest_main)
target_include_directories(test_cluster_hosts PRIVATE ${PROJECT_SOURCE_DIR})
add_dependencies(test_cluster_hosts flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)
gtest_discover_tests(test_cluster_hosts PROPERTIES LABELS cluster RUN_SERIAL TRUE TIMEOUT 400
  DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

# scripts/cluster, the rehearsal cluster on hosts (up, status, down, bad arguments). Needs root.
add_executable(test_cluster_script ${CMAKE_CURRENT_LIST_DIR}/test_cluster_script.cpp)
target_link_libraries(test_cluster_script PRIVATE flashsale_test_support GTest::gtest
  GTest::gtest_main)
target_include_directories(test_cluster_script PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(test_cluster_script PRIVATE FLASHSALE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  FLASHSALE_BUILD_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(test_cluster_script flashsale-gateway flashsale-writer flashsale-admin
  flashsale-load)
gtest_discover_tests(test_cluster_script PROPERTIES LABELS cluster RUN_SERIAL TRUE TIMEOUT 300
  DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
