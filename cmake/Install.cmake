# cmake --install: the hvdisk tool and its man page, the layer libraries with their headers under
# include/hvdisk/, and a CMake package so that a service can find_package(hvdisk) and link
# hvdisk::ops (which brings chain, vhdx and platform along).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HVDISK_LAYERS platform vhdx chain ops)
foreach(layer ${HVDISK_LAYERS})
  set_target_properties(hvdisk_${layer} PROPERTIES EXPORT_NAME ${layer})
  target_include_directories(hvdisk_${layer} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/hvdisk>)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${layer}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hvdisk/${layer}
          FILES_MATCHING PATTERN "*.h")
endforeach()
set_target_properties(hvdisk_aio PROPERTIES EXPORT_NAME aio)

install(TARGETS hvdisk_platform hvdisk_vhdx hvdisk_chain hvdisk_ops hvdisk_aio
        EXPORT hvdiskTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS hvdisk RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT hvdiskTargets NAMESPACE hvdisk:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/hvdiskConfig.cmake.in
  ${CMAKE_BINARY_DIR}/hvdiskConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/hvdiskConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/hvdiskConfig.cmake ${CMAKE_BINARY_DIR}/hvdiskConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)

# The man page, generated from the help text (help2man, Debian: help2man).
find_program(HVDISK_HELP2MAN help2man)
if(NOT HVDISK_HELP2MAN)
  message(FATAL_ERROR "help2man not found: apt-get install help2man (or run scripts/bootstrap)")
endif()
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/hvdisk.1
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/make-man $<TARGET_FILE:hvdisk> ${CMAKE_BINARY_DIR}/hvdisk.1
  DEPENDS hvdisk ${CMAKE_SOURCE_DIR}/scripts/make-man
  COMMENT "Generating the hvdisk(1) man page from the help text")
add_custom_target(hvdisk_man ALL DEPENDS ${CMAKE_BINARY_DIR}/hvdisk.1)
install(FILES ${CMAKE_BINARY_DIR}/hvdisk.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
