// file_io: the few file-system steps persistence repeats: an error that names the path, a
// folder made durable (fsync), a file replaced atomically (temp name, fsync, rename, fsync).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace ecom::persistence {

// std::system_error "<what> <path>: <strerror>".
std::system_error io_error(int error, const std::string& what, const std::filesystem::path& path);
// fsyncs a folder, so that entries made or removed in it are durable.
void fsync_dir(const std::filesystem::path& dir);
// Creates `dir` (and parents) if missing; a new folder's entry is made durable in its parent.
void create_dir(const std::filesystem::path& dir);
bool write_all(int fd, std::string_view bytes);
// Temp name, fsync, rename, fsync the folder: a reader sees the old file or the whole new one.
void write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                           std::string_view bytes, mode_t mode);

}  // namespace ecom::persistence
