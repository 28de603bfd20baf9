// The WAL reader on arbitrary segment bytes (written to a file in a private folder, read
// read-only as the tools do): it reports a torn tail or throws corruption, never crashes, and
// never hands over a record whose frame checksum does not hold.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "persistence/crc32c.h"
#include "persistence/wal_format.h"
#include "persistence/wal_reader.h"

namespace fs = std::filesystem;
using namespace ecom::persistence;

namespace {

const fs::path& folder() {
  static const fs::path dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("ecom-fuzz-wal-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const fs::path segment = folder() / wal_format::segment_file_name(1);
  {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  wal_read_options options;
  options.read_only = true;
  try {
    read_wal(folder(), options, [&](const wal_entry& e) {
      // The frame the record came from, as it is in the input: its checksum must hold.
      if (e.offset + wal_format::frame_header_size + e.payload.size() > bytes.size())
        __builtin_trap();
      const char* header = bytes.data() + e.offset;
      const auto h = wal_format::decode_frame_header(header);
      if (crc32c::unmask(h.masked_crc) != wal_format::frame_crc(header, e.payload))
        __builtin_trap();
    });
  } catch (const std::exception&) {
    // Corruption, a bad header: reported, as it should be.
  }
  return 0;
}
