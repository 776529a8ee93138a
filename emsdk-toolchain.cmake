# WebAssembly toolchain: Emscripten from $EMSDK when set, Debian's /usr/share/emscripten otherwise.
# Fails loudly when neither has Emscripten.cmake, rather than silently building natively.
if(DEFINED ENV{EMSDK} AND EXISTS "$ENV{EMSDK}/upstream/emscripten/cmake/Modules/Platform/Emscripten.cmake")
  set(MAMBO_EMSCRIPTEN_ROOT "$ENV{EMSDK}/upstream/emscripten")
elseif(EXISTS "/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake")
  set(MAMBO_EMSCRIPTEN_ROOT "/usr/share/emscripten")
else()
  message(FATAL_ERROR "Emscripten not found: set EMSDK to an emsdk checkout or install Debian's "
                      "'emscripten' package (scripts/setup.sh does).")
endif()
include("${MAMBO_EMSCRIPTEN_ROOT}/cmake/Modules/Platform/Emscripten.cmake")

# Debian's emcc needs acorn & co. from /usr/share/nodejs when it runs its JS optimiser (-O1+).
# set(ENV{...}) would only cover configure time, so pass it through launchers (CMake >= 3.21).
set(CMAKE_C_COMPILER_LAUNCHER "env;NODE_PATH=/usr/share/nodejs")
set(CMAKE_CXX_COMPILER_LAUNCHER "env;NODE_PATH=/usr/share/nodejs")
set(CMAKE_C_LINKER_LAUNCHER "env;NODE_PATH=/usr/share/nodejs")
set(CMAKE_CXX_LINKER_LAUNCHER "env;NODE_PATH=/usr/share/nodejs")

# emcmake's default emulator passes a flag Node 20 rejects, and Node 20's global fetch breaks
# loading .wasm files: run wasm tests with plain node and fetch disabled.
set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/node;--no-experimental-fetch" CACHE STRING "" FORCE)
