# PostgreSQL adapter, stored functions and flashsale-admin against a real server
# (FLASHSALE_PG_* from build/run/endpoints.env). Each test process creates, migrates and drops its
# own database flashsale_test_<pid>.
set(db_test_sql_dir "${PROJECT_SOURCE_DIR}/sql")

flashsale_add_test(test_db_purchase LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_db_purchase.cpp
  LIBS flashsale_test_support flashsale_db flashsale_common Threads::Threads)
target_compile_definitions(test_db_purchase PRIVATE FLASHSALE_SQL_DIR="${db_test_sql_dir}")

flashsale_add_test(test_db_admin LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_db_admin.cpp
  LIBS flashsale_test_support flashsale_db flashsale_common)
target_compile_definitions(test_db_admin PRIVATE FLASHSALE_SQL_DIR="${db_test_sql_dir}")

if(TARGET flashsale-admin)
  flashsale_add_test(test_db_admin_tool LABEL integration
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_db_admin_tool.cpp
    LIBS flashsale_test_support flashsale_db flashsale_common)
  target_compile_definitions(test_db_admin_tool PRIVATE FLASHSALE_SQL_DIR="${db_test_sql_dir}"
    FLASHSALE_ADMIN_BIN="$<TARGET_FILE:flashsale-admin>")
  add_dependencies(test_db_admin_tool flashsale-admin)
endif()
