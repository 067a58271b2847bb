# Cross-compiling the Windows provider on Debian with mingw-w64 (posix thread
# model, so std::thread/std::mutex work; the runtime is linked statically so
# the DLL needs nothing beside system DLLs).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(VTOKEN_MINGW_PREFIX x86_64-w64-mingw32)

find_program(CMAKE_C_COMPILER NAMES ${VTOKEN_MINGW_PREFIX}-gcc-posix ${VTOKEN_MINGW_PREFIX}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${VTOKEN_MINGW_PREFIX}-g++-posix ${VTOKEN_MINGW_PREFIX}-g++ REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${VTOKEN_MINGW_PREFIX}-windres)
find_program(VTOKEN_MINGW_OBJDUMP NAMES ${VTOKEN_MINGW_PREFIX}-objdump)

set(CMAKE_FIND_ROOT_PATH /usr/${VTOKEN_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
