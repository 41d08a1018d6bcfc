# Writes the build's identity into a header the CLI prints with --version: the git commit the
# build was made from (with -dirty for local changes), or "unknown" outside a git checkout.
# Run at every build by the hvdisk_build_info target (cli/CMakeLists.txt), so the commit is never
# stale; configure_file rewrites the header only when its content changes, so nothing rebuilds
# when the commit did not move.
#
# Inputs (-D): SOURCE_DIR, OUTPUT, VERSION, BUILD_TYPE.
set(HVDISK_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" describe --always --dirty --abbrev=10
    OUTPUT_VARIABLE describe
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc
    ERROR_QUIET)
  if(rc EQUAL 0 AND NOT describe STREQUAL "")
    set(HVDISK_GIT_COMMIT "${describe}")
  endif()
endif()
set(HVDISK_BUILD_VERSION "${VERSION}")
set(HVDISK_BUILD_TYPE "${BUILD_TYPE}")
if(HVDISK_BUILD_TYPE STREQUAL "")
  set(HVDISK_BUILD_TYPE "default")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/build_info.h.in" "${OUTPUT}" @ONLY)
