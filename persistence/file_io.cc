#include "persistence/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace ecom::persistence {

namespace fs = std::filesystem;

std::system_error io_error(int error, const std::string& what, const fs::path& path) {
  return std::system_error(error, std::generic_category(), what + " " + path.string());
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error(errno, "cannot open folder", dir);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) throw io_error(error, "cannot fsync folder", dir);
}

void create_dir(const fs::path& dir) {
  std::error_code ec;
  const bool created = fs::create_directories(dir, ec);
  if (ec) throw io_error(ec.value(), "cannot create folder", dir);
  if (created) fsync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path("."));
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void write_file_atomically(const fs::path& dir, const std::string& name, std::string_view bytes,
                           mode_t mode) {
  const fs::path temp = dir / (name + ".tmp");
  const int fd = ::open(temp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0) throw io_error(errno, "cannot create", temp);
  const bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, bytes) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) throw io_error(error, "cannot write", temp);
  if (::rename(temp.c_str(), (dir / name).c_str()) != 0) {
    throw io_error(errno, "cannot rename into place", dir / name);
  }
  fsync_dir(dir);
}

}  // namespace ecom::persistence
