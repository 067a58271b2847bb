# Detached CAdES/CMS signatures around a signature made elsewhere (cades.h),
# and `vtoken sign`, which signs files with the cloud token through the
# agent's cloud_sign_batch. Included from tokend/CMakeLists.txt after
# agent.cmake and cloud/cloud.cmake.
add_library(vtoken_cms STATIC ${CMAKE_CURRENT_LIST_DIR}/cades.cpp)
target_include_directories(vtoken_cms PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(vtoken_cms PUBLIC vtoken_common OpenSSL::Crypto PkgConfig::P11KIT)

target_sources(vtoken PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../cli/cli_sign.cpp)
target_link_libraries(vtoken PRIVATE vtoken_cms)
