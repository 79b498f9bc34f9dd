# Live quotas, pure logic: counter lease and release, the quota leader's policy, znode documents.
flashsale_add_test(test_quota_logic LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quota_logic.cpp LIBS flashsale_quota flashsale_messages)
flashsale_add_test(test_tree_acl LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tree_acl.cpp LIBS flashsale_quota)
