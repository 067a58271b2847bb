# Cloud tokens in the agent (tokend/cloud/) and the cloud commands of the
# vtoken CLI. Included from tokend/CMakeLists.txt after agent.cmake.
# Where a code comes from (pinentry, a command): the agent's, and the CLI's
# `vtoken login --otp-command`.
add_library(vtoken_code_source STATIC ${CMAKE_CURRENT_LIST_DIR}/code_source.cpp)
target_include_directories(vtoken_code_source PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(vtoken_code_source PUBLIC vtoken_agent_log vtoken_common)
target_sources(vtoken_agent PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cloud_objects.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cloud_token.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../dispatcher_cloud.cpp
)
target_link_libraries(vtoken_agent PUBLIC vtoken_csc vtoken_code_source)
target_sources(vtoken PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../cli/cli_cloud.cpp)
target_link_libraries(vtoken PRIVATE vtoken_csc vtoken_code_source)
