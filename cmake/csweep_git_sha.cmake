# CSWEEP_GIT_SHA: the source tree's git commit at configure time ("unknown" outside a checkout),
# for provenance.json (store/) and `csweep --version` (apps/).
execute_process(COMMAND git -C ${CSWEEP_SOURCE_DIR} rev-parse HEAD
                OUTPUT_VARIABLE CSWEEP_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT CSWEEP_GIT_SHA)
  set(CSWEEP_GIT_SHA unknown)
endif()
