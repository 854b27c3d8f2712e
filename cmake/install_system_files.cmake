# Runs at install time (cmake/install.cmake): where the systemd unit and the configuration go
# depends on the prefix installed to (/usr for the package, or --prefix), not the one configured.
# With the prefix /usr they go where Debian puts them, /lib/systemd/system and /etc; otherwise
# under the prefix (PREFIX/lib/systemd/system is also on systemd's search path for /usr/local).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sysconfdir "/etc")
  set(unitdir "/lib/systemd/system")
else()
  set(sysconfdir "${CMAKE_INSTALL_PREFIX}/etc")
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()

set(RAYDEPLOY_BINARY "${CMAKE_INSTALL_PREFIX}/${RAYDEPLOY_BINDIR}/raydeploy")
set(RAYDEPLOY_CONFIG "${sysconfdir}/raydeploy/raydeploy.yaml")
set(RAYDEPLOY_DOCDIR "${CMAKE_INSTALL_PREFIX}/${RAYDEPLOY_DOCDIR}")

# One staging directory per destination, so two installs at once (cpack and cmake --install)
# never write the same file.
string(MD5 destination_key "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(staging "${RAYDEPLOY_STAGING_DIR}/${destination_key}")
configure_file("${RAYDEPLOY_PACKAGING_DIR}/raydeploy.service.in" "${staging}/raydeploy.service" @ONLY)
file(INSTALL "${staging}/raydeploy.service" DESTINATION "${unitdir}")

# An edited configuration is kept; the package's dpkg handles it as a conffile instead.
if(EXISTS "$ENV{DESTDIR}${RAYDEPLOY_CONFIG}")
  file(READ "$ENV{DESTDIR}${RAYDEPLOY_CONFIG}" installed)
  file(READ "${RAYDEPLOY_PACKAGING_DIR}/raydeploy.yaml" shipped)
  if(NOT installed STREQUAL shipped)
    message(STATUS "Keeping the edited $ENV{DESTDIR}${RAYDEPLOY_CONFIG}; the shipped one is "
                   "${RAYDEPLOY_PACKAGING_DIR}/raydeploy.yaml")
    return()
  endif()
endif()
file(INSTALL "${RAYDEPLOY_PACKAGING_DIR}/raydeploy.yaml" DESTINATION "${sysconfdir}/raydeploy")
