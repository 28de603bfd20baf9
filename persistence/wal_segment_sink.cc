#include "persistence/wal_segment_sink.h"

#include "persistence/file_io.h"
#include "persistence/wal_format.h"

namespace ecom::persistence {

wal_segment_sink::wal_segment_sink(std::filesystem::path dir, engine::lsn_t first_lsn,
                                   std::uint64_t segment_bytes_max, std::uint64_t first_number)
    : dir_(std::move(dir)),
      segment_bytes_max_(segment_bytes_max),
      number_(first_number),
      segment_(wal_format::encode_segment_header(first_lsn)) {}

void wal_segment_sink::append(engine::record_type type, engine::shard_index shard,
                              engine::lsn_t lsn, std::string_view payload,
                              engine::time_ms committed_at) {
  if (segment_.size() >= segment_bytes_max_) {
    write_segment();
    segment_ = wal_format::encode_segment_header(lsn);
    committed_at_ = 0;  // each segment states its commit times itself
  }
  if (committed_at != 0 && committed_at != committed_at_) {
    committed_at_ = committed_at;
    wal_format::append_commit_time_frame(segment_, lsn);
    wal_format::seal_commit_time_frame(
        segment_.data() + segment_.size() - wal_format::commit_time_frame_size, committed_at);
  }
  wal_format::append_frame(segment_, type, shard, lsn, payload);
}

std::uint64_t wal_segment_sink::finish() {
  write_segment();
  segment_.clear();
  return written_;
}

void wal_segment_sink::write_segment() {
  write_file_atomically(dir_, wal_format::segment_file_name(number_++), segment_, 0644);
  ++written_;
}

}  // namespace ecom::persistence
