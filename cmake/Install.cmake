# cmake --install: the hvdisk tool and its man page, the layer libraries with their public
# headers under include/hvdisk/, a CMake package (find_package(hvdisk), then link hvdisk::wmi for
# the facade or hvdisk::ops for the store; each brings the layers below) and a pkg-config file
# (hvdisk.pc). Internal headers (codecs, backends, image state) are not installed.
include(CMakePackageConfigHelpers)

set(HVDISK_LAYERS platform vhdx chain disk ops ops/wmi)
set(HVDISK_LIBRARIES hvdisk_platform hvdisk_vhdx hvdisk_chain hvdisk_disk hvdisk_ops hvdisk_wmi)
foreach(layer ${HVDISK_LAYERS})
  list(TRANSFORM HVDISK_PUBLIC_HEADERS_${layer} PREPEND ${PROJECT_SOURCE_DIR}/${layer}/
       OUTPUT_VARIABLE headers)
  install(FILES ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hvdisk/${layer})
endforeach()
foreach(lib ${HVDISK_LIBRARIES})
  string(REPLACE "hvdisk_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

install(TARGETS ${HVDISK_LIBRARIES} EXPORT hvdiskTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS hvdisk RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT hvdiskTargets NAMESPACE hvdisk:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hvdiskConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hvdiskConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hvdiskConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hvdiskConfig.cmake
              ${PROJECT_BINARY_DIR}/hvdiskConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hvdisk)

# pkg-config: `pkg-config --cflags --libs hvdisk` (static builds: add --static).
file(RELATIVE_PATH HVDISK_PC_UP "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
list(JOIN HVDISK_PC_REQUIRES_PRIVATE " " HVDISK_PC_REQUIRES_PRIVATE_TEXT)
list(JOIN HVDISK_PC_LIBS_PRIVATE " " HVDISK_PC_LIBS_PRIVATE_TEXT)
configure_file(${PROJECT_SOURCE_DIR}/cmake/hvdisk.pc.in ${PROJECT_BINARY_DIR}/hvdisk.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hvdisk.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The man page, generated from the help text (help2man, Debian: help2man).
find_program(HVDISK_HELP2MAN help2man)
if(NOT HVDISK_HELP2MAN)
  message(FATAL_ERROR "help2man not found: apt-get install help2man (or run scripts/bootstrap)")
endif()
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/hvdisk.1
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/make-man $<TARGET_FILE:hvdisk> ${PROJECT_BINARY_DIR}/hvdisk.1
  DEPENDS hvdisk ${PROJECT_SOURCE_DIR}/scripts/make-man
  COMMENT "Generating the hvdisk(1) man page from the help text")
add_custom_target(hvdisk_man ALL DEPENDS ${PROJECT_BINARY_DIR}/hvdisk.1)
install(FILES ${PROJECT_BINARY_DIR}/hvdisk.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The documentation the hints and the man page refer to: share/doc/hvdisk/.
set(HVDISK_DOCS README.md docs/design.md docs/crash-consistency.md docs/store-layout.md docs/json.md)
list(TRANSFORM HVDISK_DOCS PREPEND ${PROJECT_SOURCE_DIR}/)
install(FILES ${HVDISK_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
