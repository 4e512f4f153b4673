# Sanitizers and libFuzzer instrumentation for the torch-free build (scripts/sanitize-check.sh,
# scripts/fuzz.sh). LibTorch is not built with ASan, so these are meant for
# CSWEEP_TORCH_FREE_ONLY=ON builds; see docs/testing.md.
#   CSWEEP_SANITIZE=address,undefined  every target compiled and linked with those sanitizers;
#                                     UBSan findings abort (no recovery), like ASan's.
#   CSWEEP_FUZZ=ON                    every target gets libFuzzer's coverage instrumentation
#                                     (fuzzer-no-link) and fuzz/ builds one fuzzer per parser.
#                                     clang only. The unit tests of such a build still run as
#                                     plain tests: the sanitizer runtime has the hooks' defaults.
set(CSWEEP_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list for every target (e.g. address,undefined)")
option(CSWEEP_FUZZ "Build the libFuzzer targets in fuzz/ (clang, CSWEEP_TORCH_FREE_ONLY)" OFF)

if(CSWEEP_SANITIZE)
  add_compile_options(-fsanitize=${CSWEEP_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CSWEEP_SANITIZE})
endif()

if(CSWEEP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CSWEEP_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(NOT CSWEEP_TORCH_FREE_ONLY)
    message(FATAL_ERROR "CSWEEP_FUZZ needs CSWEEP_TORCH_FREE_ONLY=ON (LibTorch is not instrumented)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
