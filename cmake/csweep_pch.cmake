# Precompiled headers for the project's targets (2 cores: a clean build must stay under 15
# minutes). Most translation units parse nlohmann/json and a dozen standard headers (~2.5 s of a
# ~8 s compile); tests parse gtest too (csweep_add_test); torch targets parse <ATen/ATen.h>
# (~8 s). Building a header costs about what parsing it in 2-3 TUs does (~6 s; ~30 s with ATen),
# so only targets with at least 3 sources precompile the common headers, and torch targets
# (csweep_use_torch) with at least 4 add ATen: a one-file tool or test compiles faster without
# (measured at 8713787: the 35 targets with one or two sources spent 385 s of a 2165 s build on
# their headers). Called once, after every component is added, so a new target gets it without
# asking. A unity target counts its translation units, not its sources: with 8 sources to a
# unit most test binaries are one or two units, where a precompiled header costs more than it
# saves (at ab6b04f the 23 headers took 391 s of a 2337 s build).
set(CSWEEP_COMMON_PCH <nlohmann/json.hpp> <filesystem> <functional> <map> <memory> <optional>
    <string> <vector>)

function(csweep_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    csweep_collect_targets(${sub} sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(csweep_precompile_common_headers)
  csweep_collect_targets(${CSWEEP_SOURCE_DIR} targets)
  foreach(target ${targets})
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    get_target_property(sources ${target} SOURCES)
    list(FILTER sources INCLUDE REGEX "\\.cpp$")
    list(LENGTH sources n_sources)
    # A unity target (every test binary, cmake/csweep_test.cmake) compiles one translation unit
    # per batch of sources: count those, since a header is parsed once per unit.
    get_target_property(unity ${target} UNITY_BUILD)
    if(unity)
      get_target_property(batch ${target} UNITY_BUILD_BATCH_SIZE)
      math(EXPR n_sources "(${n_sources} + ${batch} - 1) / ${batch}")
    endif()
    get_target_property(aten ${target} CSWEEP_ATEN_PCH)
    if(aten AND n_sources GREATER_EQUAL 4)
      target_precompile_headers(${target} PRIVATE <ATen/ATen.h>)
    endif()
    if(n_sources GREATER_EQUAL 3)
      target_precompile_headers(${target} PRIVATE ${CSWEEP_COMMON_PCH})
      get_target_property(gtest ${target} CSWEEP_GTEST_PCH)
      if(gtest)
        target_precompile_headers(${target} PRIVATE <gtest/gtest.h>)
      endif()
    endif()
  endforeach()
endfunction()
