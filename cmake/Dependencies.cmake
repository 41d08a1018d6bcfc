# Every dependency is a Debian 12 package; a missing one stops configure naming the package.
# scripts/bootstrap installs them all.
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config (or run scripts/bootstrap)")
endif()

macro(hvdisk_require_pkg prefix module package)
  pkg_check_modules(${prefix} IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${package} (or run scripts/bootstrap)")
  endif()
endmacro()

macro(hvdisk_require_cmake name package)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "${name} not found: apt-get install ${package} (or run scripts/bootstrap)")
  endif()
endmacro()

hvdisk_require_cmake(Boost libboost-dev 1.74)  # Endian, UUID: header-only
hvdisk_require_pkg(XXHASH libxxhash libxxhash-dev)
hvdisk_require_pkg(URING liburing liburing-dev)
hvdisk_require_pkg(ISAL libisal libisal-dev)
hvdisk_require_cmake(nlohmann_json nlohmann-json3-dev)
hvdisk_require_cmake(CLI11 libcli11-dev)

# libaio ships no pkg-config file.
find_path(AIO_INCLUDE_DIR libaio.h)
find_library(AIO_LIBRARY aio)
if(NOT AIO_INCLUDE_DIR OR NOT AIO_LIBRARY)
  message(FATAL_ERROR "libaio not found: apt-get install libaio-dev (or run scripts/bootstrap)")
endif()
add_library(hvdisk_aio INTERFACE)
target_include_directories(hvdisk_aio INTERFACE ${AIO_INCLUDE_DIR})
target_link_libraries(hvdisk_aio INTERFACE ${AIO_LIBRARY})

find_package(Threads REQUIRED)

if(HVDISK_BUILD_TESTS)
  hvdisk_require_cmake(GTest "libgtest-dev libgmock-dev")
  include(GoogleTest)
endif()
if(HVDISK_BUILD_BENCH)
  hvdisk_require_cmake(benchmark libbenchmark-dev)
endif()
