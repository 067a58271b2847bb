# The per-user agent (vtokend) and the vtoken CLI. Included from
# tokend/CMakeLists.txt; the emulated token core is the vtoken_emulated target.
set(VTOKEN_AGENT_DEFS VTOKEN_VERSION_STRING="${PROJECT_VERSION}")

# The agent's log lines; also linked by the CLI's share of the agent code
# (tokend/cloud/code_source.cpp).
add_library(vtoken_agent_log STATIC ${CMAKE_CURRENT_LIST_DIR}/log.cpp)
target_include_directories(vtoken_agent_log PUBLIC ${PROJECT_SOURCE_DIR})

add_library(vtoken_agent STATIC
  ${CMAKE_CURRENT_LIST_DIR}/dispatcher.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dispatcher_auth.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dispatcher_objects.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dispatcher_tokens.cpp
  ${CMAKE_CURRENT_LIST_DIR}/listener.cpp
  ${CMAKE_CURRENT_LIST_DIR}/registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/server.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tcp_listener.cpp
  ${CMAKE_CURRENT_LIST_DIR}/worker_pool.cpp
)
target_compile_definitions(vtoken_agent PUBLIC ${VTOKEN_AGENT_DEFS})
target_include_directories(vtoken_agent PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(vtoken_agent PUBLIC vtoken_agent_log vtoken_common OpenSSL::Crypto Threads::Threads)
if(TARGET vtoken_emulated)
  target_link_libraries(vtoken_agent PUBLIC vtoken_emulated)
endif()

add_executable(vtokend ${CMAKE_CURRENT_LIST_DIR}/vtokend_main.cpp)
target_link_libraries(vtokend PRIVATE vtoken_agent CLI11::CLI11)

# The CLI talks to the agent only through the protocol (agent_client.*).
add_executable(vtoken
  ${CMAKE_CURRENT_LIST_DIR}/cli/vtoken_main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_tokens.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_register.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cli/prompt.cpp
  ${CMAKE_CURRENT_LIST_DIR}/agent_client.cpp
)
target_compile_definitions(vtoken PRIVATE ${VTOKEN_AGENT_DEFS} VTOKEN_INSTALLED_AGENT="${VTOKEN_INSTALLED_AGENT}"
                           VTOKEN_INSTALLED_MODULE="${VTOKEN_INSTALLED_MODULE}")
target_include_directories(vtoken PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(vtoken PRIVATE vtoken_common CLI11::CLI11 Threads::Threads)

install(TARGETS vtokend vtoken RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
configure_file(${CMAKE_CURRENT_LIST_DIR}/systemd/vtokend.service.in ${PROJECT_BINARY_DIR}/systemd/vtokend.service @ONLY)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/vtokend.socket ${PROJECT_BINARY_DIR}/systemd/vtokend.service
        DESTINATION lib/systemd/user)  # relative: follows --prefix (/usr/lib/systemd/user)
