# Actors under CAF's deterministic test coordinator (caf/test/dsl.hpp): one executable per actor,
# each with CAF's own test runner (its main), registered as one ctest test. No service needed.
foreach(actor gateway product_counter publisher_bridge)
  set(name test_${actor}_actor)
  add_executable(${name} ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp)
  target_link_libraries(${name} PRIVATE flashsale_actors)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME actors.${actor} COMMAND ${name} --max-runtime=60)
  set_tests_properties(actors.${actor} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()
