# Precompiled headers for every target of the project (2 cores: a clean build must stay under
# 15 minutes). Most translation units parse nlohmann/json and a dozen standard headers (~2.5 s
# of a ~8 s compile); tests parse gtest too. Each target precompiles them once; torch targets
# add <ATen/ATen.h> to the same header (csweep_use_torch). Called once, after every component
# is added, so a new target gets it without its CMakeLists.txt saying so.
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
    if(NOT sources)
      continue()
    endif()
    target_precompile_headers(${target} PRIVATE ${CSWEEP_COMMON_PCH})
  endforeach()
endfunction()
