# Issue 13, service credentials: the private PostgreSQL, RabbitMQ and ZooKeeper of scripts/services
# refuse what each account may not do (FLASHSALE_* and the password files of endpoints.env).
flashsale_add_test(test_service_credentials LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_service_credentials.cpp
  LIBS flashsale_test_support flashsale_db flashsale_amqp flashsale_common PkgConfig::RABBITMQ
    PostgreSQL::PostgreSQL)
