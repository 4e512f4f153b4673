# csweep_add_test(NAME name SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s])
# One gtest executable per area. Discovery runs at test time (PRE_TEST): a torch-linked
# binary costs ~1 s to start, which would otherwise be paid at every build.
function(csweep_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest_main)
  # tests/test_paths.h and the other shared test helpers are included as "tests/...".
  target_include_directories(${T_NAME} PRIVATE ${CSWEEP_SOURCE_DIR})
  # A test's own code is glue around the libraries under test (which stay optimised): -O0 halves
  # its compile time, and a test binary with enough sources precompiles gtest with the common
  # headers (cmake/csweep_pch.cmake).
  target_compile_options(${T_NAME} PRIVATE -O0)
  set_property(TARGET ${T_NAME} PROPERTY CSWEEP_GTEST_PCH ON)
  # Like every target, it is a unity build (CMakeLists.txt): test_model's 10 files took 187 s of
  # compile jobs alone and 80 s as 2 units, so a test file's helpers need names of their own.
  target_compile_definitions(${T_NAME} PRIVATE
    CSWEEP_SOURCE_DIR="${CSWEEP_SOURCE_DIR}"
    CSWEEP_BINARY_DIR="${CMAKE_BINARY_DIR}"
    CSWEEP_PYTHON="${CSWEEP_TORCH_PYTHON}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  gtest_discover_tests(${T_NAME} DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    # gtest_discover_tests splits property values on ';', so only ONE variable can be set here;
    # scripts/test.sh exports OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) for the mpirun tests.
    ENVIRONMENT "CSWEEP_BIN=${CMAKE_BINARY_DIR}/bin/csweep")
endfunction()

# csweep_test_tool(target): an executable a test or a benchmark runs (an mpirun check, a bench
# driver). Like a test's own code it is glue around the optimised libraries, so it compiles at
# -O0 (half the compile time; what it times runs inside the libraries).
function(csweep_test_tool target)
  target_include_directories(${target} PRIVATE ${CSWEEP_SOURCE_DIR})
  target_compile_options(${target} PRIVATE -O0)
endfunction()
