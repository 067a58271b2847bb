# Cloud tokens in the agent (tokend/cloud/) and the cloud commands of the
# vtoken CLI. Included from tokend/CMakeLists.txt after agent.cmake.
target_sources(vtoken_agent PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cloud_objects.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cloud_token.cpp
  ${CMAKE_CURRENT_LIST_DIR}/code_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../dispatcher_cloud.cpp
)
target_link_libraries(vtoken_agent PUBLIC vtoken_csc)
target_sources(vtoken PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../cli/cli_cloud.cpp)
target_link_libraries(vtoken PRIVATE vtoken_csc)
