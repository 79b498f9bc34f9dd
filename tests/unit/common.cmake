flashsale_add_test(test_sale_definition LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sale_definition.cpp LIBS flashsale_common)
flashsale_add_test(test_messages LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_messages.cpp LIBS flashsale_messages)
flashsale_add_test(test_admission_logic LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admission_logic.cpp LIBS flashsale_messages)
flashsale_add_test(test_http_api LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_api.cpp LIBS flashsale_api)
flashsale_add_test(test_admission_front LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admission_front.cpp LIBS flashsale_admission)
flashsale_add_test(test_metrics LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp LIBS flashsale_api)
flashsale_add_test(test_lottery LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lottery.cpp LIBS flashsale_admission)
flashsale_add_test(test_buyer_auth LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buyer_auth.cpp LIBS flashsale_admission)
flashsale_add_test(test_gateway_controller LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gateway_controller.cpp LIBS flashsale_api)
flashsale_add_test(test_rate_limiter LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rate_limiter.cpp LIBS flashsale_admission)
flashsale_add_test(test_secret_file LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_secret_file.cpp LIBS flashsale_common)
flashsale_add_test(test_broker_list LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_list.cpp LIBS flashsale_amqp)
flashsale_add_test(test_db_server_list LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_db_server_list.cpp LIBS flashsale_db)
flashsale_add_test(test_open_files LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_open_files.cpp LIBS flashsale_common)
