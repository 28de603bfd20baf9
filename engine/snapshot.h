// snapshot: how one shard's state is written into a snapshot and read back, and the capture
// that writes it while the shard keeps serving.
//
// Entities. A shard's state is a set of entities, each a (key, value) pair. The key is
// [table: u8][a: u64 big endian][b: u64 big endian, issued units only], so byte order is
// numeric order; the value is the entity's fields in codec.h's layout. Every book writes its
// entities in key order (positions are sequence numbers, insert positions or ids: never a hash
// map's order), so two snapshots of one state are byte-equal, and the writer can append keys
// in order. Derived indexes (an email index, expiry queues, the feed's dedup set) are rebuilt
// on load; memory-only state (payments in progress, key claims and in-flight keys, parked long
// polls) is left out on purpose: recovery rebuilds what it must (flow_recovery.h).
//
// Capture at a cut ("serialize before mutate", as Dragonfly does it). The shard starts a
// capture between two commands: its state then is the state at its cut LSN. Each book notes
// the range of positions it held at that moment (capture_range) and walks it in bounded steps
// between batches, writing each entity as it finds it. A change to an entity the walk has not
// reached yet first writes that entity's value (the value at the cut) and marks it, so the
// walk skips it; an entity created after the cut is marked without a value (it was not there).
// Memory grows by the marks and the output buffer, never by a copy of the state. The same walk
// run to its end at once is `save` (tests and tools): one code path for both.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "engine/codec.h"
#include "engine/sharding.h"
#include "engine/types.h"

namespace ecom::engine {

// The format of the entity values below; a snapshot of another version is refused on load.
inline constexpr std::uint32_t snapshot_format_version = 1;

enum class snapshot_table : std::uint8_t {
  books = 1,      // a: the book (snapshot_book); sequences and counts
  users = 2,      // a: user sequence
  keys = 3,       // a: insert position of the kept answer
  products = 4,   // a: product sequence
  carts = 5,      // a: user sequence
  templates = 6,  // a: template sequence (templates this shard made; load copies them everywhere)
  campaigns = 7,  // a: campaign sequence
  issued = 8,     // a: campaign sequence, b: take position
  wallets = 9,    // a: user sequence
  orders = 10,    // a: user sequence (the user's orders)
  holds = 11,     // a: order id
  sold = 12,      // a: product sequence
  events = 13,    // a: feed seq
};
inline constexpr std::uint8_t snapshot_table_last = 13;

enum class snapshot_book : std::uint8_t {
  users = 1,
  keys = 2,
  catalog = 3,
  carts = 4,
  campaigns = 5,
  wallets = 6,
  orders = 7,
  sales = 8,
  events = 9,
};

class snapshot_key {
 public:
  static constexpr std::size_t size_max = 17;

  snapshot_key(snapshot_table table, std::uint64_t a) : size_(9) {
    bytes_[0] = static_cast<char>(table);
    store_be(bytes_.data() + 1, a);
  }
  snapshot_key(snapshot_table table, std::uint64_t a, std::uint64_t b) : size_(17) {
    bytes_[0] = static_cast<char>(table);
    store_be(bytes_.data() + 1, a);
    store_be(bytes_.data() + 9, b);
  }
  // Nothing when `bytes` is not a key this format writes.
  static std::optional<snapshot_key> parse(std::string_view bytes);

  snapshot_table table() const { return static_cast<snapshot_table>(bytes_[0]); }
  std::uint64_t a() const { return load_be(bytes_.data() + 1); }
  std::uint64_t b() const { return size_ == 17 ? load_be(bytes_.data() + 9) : 0; }
  std::string_view bytes() const { return {bytes_.data(), size_}; }

 private:
  static void store_be(char* out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  }
  static std::uint64_t load_be(const char* in) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
  }

  std::array<char, size_max> bytes_{};
  std::size_t size_;
};

// Where a capture writes: framed entities, [u8 key size][key][u32 value size][value] each,
// appended in the order written. The shard hands the bytes on in chunks (snapshot_port).
class capture_buffer {
 public:
  // Starts an entity; the caller appends its value to the returned string, then calls end().
  std::string& begin(const snapshot_key& key) {
    bytes_.push_back(static_cast<char>(key.bytes().size()));
    bytes_.append(key.bytes());
    value_at_ = bytes_.size();
    bytes_.append(4, '\0');
    return bytes_;
  }
  void end() {
    auto size = static_cast<std::uint32_t>(bytes_.size() - value_at_ - 4);
    std::memcpy(bytes_.data() + value_at_, &size, 4);
    ++entities_;
  }
  std::string& bytes() { return bytes_; }
  std::uint64_t entities() const { return entities_; }

 private:
  std::string bytes_;
  std::size_t value_at_ = 0;
  std::uint64_t entities_ = 0;
};

// Reads capture_buffer bytes back: calls on_entity(key, value) for each; false when the bytes
// are not whole frames.
template <class OnEntity>
bool for_each_captured(std::string_view bytes, OnEntity&& on_entity) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t key_size = static_cast<unsigned char>(bytes[at]);
    if (bytes.size() - at < 1 + key_size + 4) return false;
    std::string_view key = bytes.substr(at + 1, key_size);
    std::uint32_t value_size = 0;
    std::memcpy(&value_size, bytes.data() + at + 1 + key_size, 4);
    at += 1 + key_size + 4;
    if (bytes.size() - at < value_size) return false;
    on_entity(key, bytes.substr(at, value_size));
    at += value_size;
  }
  return true;
}

// One table's walk over the positions [first, last] it held at the cut.
class capture_range {
 public:
  void start(std::uint64_t first, std::uint64_t last) {
    active_ = first <= last;
    cursor_ = first;
    last_ = last;
    early_.clear();
  }
  void stop() {
    active_ = false;
    early_ = {};
  }
  bool done() const { return !active_ || cursor_ > last_; }
  std::uint64_t cursor() const { return cursor_; }
  std::uint64_t last() const { return last_; }

  // The entity at `position` is about to change, be created or be erased: true exactly once
  // when its value at the cut must be written first (the walk has not reached it yet); the
  // walk then skips it. For an entity that did not exist at the cut, write nothing.
  bool claim(std::uint64_t position) {
    if (!active_ || position < cursor_ || position > last_) return false;
    return early_.insert(position).second;
  }
  // The walk: the position to visit next that was not written early, or nothing at the end.
  // advance() past each visited position.
  std::optional<std::uint64_t> next() {
    while (cursor_ <= last_ && !early_.empty() && early_.contains(cursor_)) {
      early_.erase(cursor_);
      ++cursor_;
    }
    if (cursor_ > last_) return std::nullopt;
    return cursor_;
  }
  void advance() { ++cursor_; }
  // For walks over sparse keys (ids in an ordered map): jump to `position` (>= cursor).
  void advance_to(std::uint64_t position) { cursor_ = position; }
  bool written_early(std::uint64_t position) const { return early_.contains(position); }

 private:
  bool active_ = false;
  std::uint64_t cursor_ = 0;
  std::uint64_t last_ = 0;
  std::unordered_set<std::uint64_t> early_;
};

// How much one capture step may do: a number of positions visited (each costs about a hash
// lookup and, when present, writing one entity).
struct capture_budget {
  std::size_t visits = 0;
  bool spent() const { return visits == 0; }
  void spend() {
    if (visits > 0) --visits;
  }
};

// The walk over a table keyed by ids this shard allocated (id = make_id(position, ...)):
// visits positions in order and writes each entity found with write(position, value).
// True when the table is done.
template <class Map, class Write>
bool walk_by_sequence(capture_range& range, const Map& map, shard_index index,
                      std::uint32_t shard_count, capture_budget& budget, Write&& write) {
  while (!budget.spent()) {
    auto position = range.next();
    if (!position) return true;
    budget.spend();
    if (auto it = map.find(make_id(*position, index, shard_count)); it != map.end())
      write(*position, it->second);
    range.advance();
  }
  return range.done();
}

// Writes one entity: key, then the value write_value(payload_writer&) lays out.
template <class WriteValue>
void put_entity(capture_buffer& out, const snapshot_key& key, WriteValue&& write_value) {
  payload_writer w(out.begin(key));
  write_value(w);
  out.end();
}

// The capture of one table keyed by ids its shard allocated (position = the id's sequence):
// users, carts, wallets and orders (by user), products and their sales, templates, campaigns.
// A book holds one per table and calls changing() wherever apply() is about to change, make or
// drop an entity; write(payload_writer&, const Entity&) lays the entity out.
template <snapshot_table Table>
class sequence_capture {
 public:
  void begin(capture_buffer& out, std::uint64_t last_position) {
    out_ = &out;
    range_.start(1, last_position);
  }
  void end() {
    out_ = nullptr;
    range_.stop();
  }
  // The entity at `position` (null: it does not exist yet) is about to change.
  template <class Entity, class Write>
  void changing(std::uint64_t position, const Entity* entity, Write&& write) {
    if (out_ != nullptr && range_.claim(position) && entity != nullptr) {
      put_entity(*out_, snapshot_key(Table, position),
                 [&](payload_writer& w) { write(w, *entity); });
    }
  }
  // One step of the walk over `map` (id → entity) into `out` (the walk's stream, which need
  // not be where changes write); true when the table is done.
  template <class Map, class Write>
  bool step(capture_buffer& out, const Map& map, shard_index index, std::uint32_t shard_count,
            capture_budget& budget, Write&& write) {
    return walk_by_sequence(range_, map, index, shard_count, budget,
                            [&](std::uint64_t position, const auto& entity) {
                              put_entity(out, snapshot_key(Table, position),
                                         [&](payload_writer& w) { write(w, entity); });
                            });
  }

 private:
  capture_buffer* out_ = nullptr;
  capture_range range_;
};

}  // namespace ecom::engine
