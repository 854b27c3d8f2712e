// Files only the service's user may read: the state directory, the database, run directories,
// extra_vars files and logs. Their modes are set explicitly where they are created, so they do not
// depend on the umask the service was started with; the umask is tightened as well, for files
// that libraries create on their own.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace raydeploy {

// Sets the process umask to 077 and remembers the one it replaced (the first time it is called),
// so children can get the operator's umask back (inherited_umask).
void restrict_umask();
// The umask the process had before restrict_umask, or the current one if it was never called.
mode_t inherited_umask();

// Creates `directory` (and missing parents) and makes it 0700. Throws runtime_failure.
void make_private_directory(const std::filesystem::path& directory);
// Creates `file` if missing, 0600 in any case (for files another API then opens, such as a log
// opened by std::ofstream). Throws runtime_failure.
void make_private_file(const std::filesystem::path& file);
// Writes `content` to `file` (replacing it), 0600. Throws runtime_failure.
void write_private_file(const std::filesystem::path& file, std::string_view content);

// A warning for a directory others can read, write or enter ("group/other bits"), naming the chmod
// that fixes it; nothing when its mode is private or it cannot be read.
std::optional<std::string> exposed_directory_warning(const std::filesystem::path& directory);

}  // namespace raydeploy
