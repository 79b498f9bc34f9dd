# The Debian package (deploy/CMakeLists.txt): built, installed into a scratch root, run from there.
add_test(NAME package.installs_into_a_scratch_root_and_runs_from_there
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_package.sh ${PROJECT_BINARY_DIR})
set_tests_properties(package.installs_into_a_scratch_root_and_runs_from_there PROPERTIES
  LABELS package TIMEOUT 600)
