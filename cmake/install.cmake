# Install rules and the Debian package. `cmake --install build --prefix PREFIX` lays out
#   PREFIX/bin/raydeploy
#   PREFIX/share/raydeploy/{playbooks,cml}      the catalogs, playbooks, roles, inventories
#   PREFIX/share/doc/raydeploy                  README, docs/, openapi.yaml
#   PREFIX/lib/sysusers.d/raydeploy.conf        the service's user
#   and, from cmake/install_system_files.cmake: the systemd unit and /etc/raydeploy/raydeploy.yaml
#   (under PREFIX, or in /lib/systemd/system and /etc when PREFIX is /usr, as in the package).
# `cmake --build build --target deb` builds the binary and packages it (build/raydeploy_*.deb).
include(GNUInstallDirs)

set(RAYDEPLOY_INSTALL_DATADIR "${CMAKE_INSTALL_DATADIR}/raydeploy")
set(RAYDEPLOY_INSTALL_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/raydeploy")

# The binary finds its data relative to itself (config/install_layout.cpp), so an installation
# can be moved or unpacked anywhere; the absolute directory is the fallback for a binary copied
# out of its installation.
file(RELATIVE_PATH raydeploy_bindir_to_datadir "${CMAKE_INSTALL_FULL_BINDIR}"
     "${CMAKE_INSTALL_FULL_DATADIR}/raydeploy")
set_source_files_properties(${PROJECT_SOURCE_DIR}/lib/raydeploy/config/install_layout.cpp
  DIRECTORY ${PROJECT_SOURCE_DIR}/lib
  PROPERTIES COMPILE_DEFINITIONS
    "RAYDEPLOY_BINDIR_TO_DATADIR=\"${raydeploy_bindir_to_datadir}\";RAYDEPLOY_INSTALL_DATADIR=\"${CMAKE_INSTALL_FULL_DATADIR}/raydeploy\"")

# Installing means packaging a binary already built: without this, `install` and `package` would
# first build every target of the tree, tests and benchmarks included.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS raydeploy RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Generated files a checkout collects (final-validation's reports/ when run by hand, Python's
# caches) are not part of the installation.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/playbooks ${PROJECT_SOURCE_DIR}/cml
        DESTINATION ${RAYDEPLOY_INSTALL_DATADIR}
        REGEX "/playbooks/reports$" EXCLUDE
        PATTERN "__pycache__" EXCLUDE
        PATTERN "*.pyc" EXCLUDE
        PATTERN ".ansible" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/openapi/openapi.yaml
        DESTINATION ${RAYDEPLOY_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${RAYDEPLOY_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.png")
# Not CMAKE_INSTALL_LIBDIR: Debian's is multiarch (lib/x86_64-linux-gnu), where systemd does not look.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/raydeploy.sysusers DESTINATION lib/sysusers.d RENAME raydeploy.conf)
install(CODE "
  set(RAYDEPLOY_PACKAGING_DIR \"${PROJECT_SOURCE_DIR}/packaging\")
  set(RAYDEPLOY_STAGING_DIR \"${PROJECT_BINARY_DIR}/packaging\")
  set(RAYDEPLOY_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(RAYDEPLOY_DOCDIR \"${RAYDEPLOY_INSTALL_DOCDIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_system_files.cmake)

# ------------------------------------------------------------------------------ Debian package
set(RAYDEPLOY_DEB_MAINTAINER "raydeploy maintainers <raydeploy@localhost>"
    CACHE STRING "Maintainer field of the .deb: NAME <EMAIL> of whoever publishes the package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME raydeploy)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Ray cluster deployments in checkpoints, with approvals")
set(CPACK_PACKAGE_DESCRIPTION
    "raydeploy runs Ray deployments as checkpoints (Ansible playbooks, Cloudera ML jobs), holds the\n\
risky ones for an audited approval and streams their progress. One binary: the service (REST API,\n\
WebSocket feed, web dashboard) and the CLI for people and CI. ansible-core is not a dependency:\n\
install it into a virtualenv (see /usr/share/doc/raydeploy/operations.md).")
set(CPACK_PACKAGE_CONTACT "${RAYDEPLOY_DEB_MAINTAINER}")
set(CPACK_STRIP_FILES ON)
# Installed with DESTDIR under the package's prefix, so the install-time rules of
# install_system_files.cmake see /usr and put the unit and /etc where Debian expects them.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# What the binary links (objdump -p: NEEDED), with the lowest versions dpkg-shlibdeps derives on
# Debian 12; libc6 2.36 for the packed relative relocations (service/CMakeLists.txt). The
# install.deb test checks every NEEDED library is covered and libc6 by every GLIBC_ version used.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libgcc-s1 (>= 3.0), libsqlite3-0 (>= 3.37.0), libssl3 (>= 3.0.0), \
libstdc++6 (>= 11), libyaml-cpp0.7 (>= 0.7.0), libprometheus-cpp-core1.0 (>= 1.0.1), adduser")
# The playbooks need Python (a virtualenv for ansible-core) and ssh to reach their hosts.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-venv, openssh-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

add_custom_target(deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${PROJECT_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
  DEPENDS raydeploy
  USES_TERMINAL
  COMMENT "Packaging build/bin/raydeploy as a .deb")
