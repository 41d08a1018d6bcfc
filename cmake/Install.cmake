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
          ${PROJECT_SOURCE_DIR}/README.md
  DEPENDS hvdisk ${PROJECT_SOURCE_DIR}/scripts/make-man ${PROJECT_SOURCE_DIR}/README.md
  COMMENT "Generating the hvdisk(1) man page from the help text")
# hvdisk-json(7) and hvdisk-store-layout(7), which hvdisk(1) names under SEE ALSO.
set(HVDISK_MAN7)
foreach(page "json;docs/json.md;the documents hvdisk --json prints"
             "store-layout;docs/store-layout.md;the files of an hvdisk replica store")
  list(GET page 0 name)
  list(GET page 1 doc)
  list(GET page 2 summary)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/hvdisk-${name}.7
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/make-doc-man ${PROJECT_SOURCE_DIR}/${doc} hvdisk-${name}
            "${summary}" ${PROJECT_BINARY_DIR}/hvdisk-${name}.7
    DEPENDS ${PROJECT_SOURCE_DIR}/scripts/make-doc-man ${PROJECT_SOURCE_DIR}/${doc}
    COMMENT "Generating hvdisk-${name}(7) from ${doc}")
  list(APPEND HVDISK_MAN7 ${PROJECT_BINARY_DIR}/hvdisk-${name}.7)
endforeach()
# The completion is generated with the pages: building hvdisk_man gives all that installs beside.
add_custom_target(hvdisk_man ALL DEPENDS ${PROJECT_BINARY_DIR}/hvdisk.1 ${HVDISK_MAN7}
                                         ${PROJECT_BINARY_DIR}/hvdisk.bash)
install(FILES ${PROJECT_BINARY_DIR}/hvdisk.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${HVDISK_MAN7} DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)

# Bash completion, generated from the command tree: into bash-completion's completionsdir (its
# pkg-config file, taken relative to its prefix and put under ours), else the documented fallback
# PREFIX/share/bash-completion/completions, where bash-completion looks for a prefix's
# completions (XDG_DATA_DIRS).
set(HVDISK_BASH_COMPLETIONS ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_get_variable(HVDISK_BC_DIR bash-completion completionsdir)
  pkg_get_variable(HVDISK_BC_PREFIX bash-completion prefix)
  if(HVDISK_BC_DIR AND HVDISK_BC_PREFIX AND HVDISK_BC_DIR MATCHES "^${HVDISK_BC_PREFIX}/(.+)$")
    set(HVDISK_BASH_COMPLETIONS ${CMAKE_MATCH_1})
  endif()
endif()
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/hvdisk.bash
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/make-completion $<TARGET_FILE:hvdisk>
          ${PROJECT_BINARY_DIR}/hvdisk.bash
  DEPENDS hvdisk ${PROJECT_SOURCE_DIR}/scripts/make-completion
  COMMENT "Generating the bash completion from the command tree")
add_custom_target(hvdisk_completion ALL DEPENDS ${PROJECT_BINARY_DIR}/hvdisk.bash)
install(FILES ${PROJECT_BINARY_DIR}/hvdisk.bash DESTINATION ${HVDISK_BASH_COMPLETIONS}
        RENAME hvdisk)

# The documentation the hints and the man page refer to: share/doc/hvdisk/.
set(HVDISK_DOCS README.md docs/design.md docs/crash-consistency.md docs/store-layout.md docs/json.md)
list(TRANSFORM HVDISK_DOCS PREPEND ${PROJECT_SOURCE_DIR}/)
install(FILES ${HVDISK_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
