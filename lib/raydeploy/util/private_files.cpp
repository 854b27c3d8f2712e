#include "raydeploy/util/private_files.hpp"

#include "raydeploy/util/errors.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace raydeploy {

namespace fs = std::filesystem;

namespace {

std::optional<mode_t> saved_umask;

[[noreturn]] void fail(const std::string& what, const fs::path& path, int error)
{
    throw runtime_failure{"cannot " + what + " '" + path.string() + "': " + std::strerror(error) +
                          "; check the permissions of the state directory"};
}

// O_NOFOLLOW: a symlink planted in a run directory must not redirect a write elsewhere.
int open_private(const fs::path& file, int flags)
{
    const int fd = ::open(file.c_str(), flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) fail("create", file, errno);
    // An existing file keeps its mode through open(): set it.
    if (::fchmod(fd, 0600) != 0) {
        const int error = errno;
        ::close(fd);
        fail("restrict the permissions of", file, error);
    }
    return fd;
}

}  // namespace

void restrict_umask()
{
    const mode_t previous = ::umask(077);
    if (!saved_umask) saved_umask = previous;
}

mode_t inherited_umask()
{
    if (saved_umask) return *saved_umask;
    const mode_t current = ::umask(077);
    ::umask(current);
    return current;
}

void make_private_directory(const fs::path& directory)
{
    std::error_code ec;
    fs::create_directories(directory, ec);
    if (ec) fail("create directory", directory, ec.value());
    if (::chmod(directory.c_str(), 0700) != 0) fail("restrict the permissions of", directory, errno);
}

void make_private_file(const fs::path& file) { ::close(open_private(file, O_WRONLY | O_APPEND)); }

void write_private_file(const fs::path& file, std::string_view content)
{
    const int fd = open_private(file, O_WRONLY | O_TRUNC);
    while (!content.empty()) {
        const ssize_t written = ::write(fd, content.data(), content.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
            const int error = errno;
            ::close(fd);
            fail("write", file, error);
        }
        content.remove_prefix(static_cast<std::size_t>(written));
    }
    if (::close(fd) != 0) fail("write", file, errno);
}

std::optional<std::string> exposed_directory_warning(const fs::path& directory)
{
    struct stat info {};
    if (::stat(directory.c_str(), &info) != 0 || (info.st_mode & 077) == 0) return std::nullopt;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return "state directory '" + directory.string() + "' has mode " + mode +
           ": other users may read its database, run logs and extra_vars; run 'chmod 700 " + directory.string() +
           "'";
}

}  // namespace raydeploy
