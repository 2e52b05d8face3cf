# Included into llama.cpp's own CMake project while setup.sh builds llama-cpp-python
# (CMAKE_PROJECT_llama.cpp_INCLUDE). llama.cpp's common/ library (argument parsing, chat
# templates, cpp-httplib with OpenSSL) is about half of the build, and the Python bindings never
# load it; llama-cpp-python's top-level CMakeLists forces it on, so it is switched off here.
# Measured on 2 cores: 1049 -> 403 CPU seconds with -DLLAVA_BUILD=OFF, the same libllama and
# libggml-cpu. Re-check when LLAMA_VERSION moves.
set(LLAMA_BUILD_COMMON OFF)
