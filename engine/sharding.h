// Key → shard routing. Entity ids name their owner (id % N); emails are hashed, and the user
// an email belongs to is allocated on that email's shard, so sign-up and login touch one shard.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace ecom::engine {

// ASCII lower-casing: emails compare case-insensitively everywhere.
inline std::string email_key(std::string_view email) {
  std::string out(email);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// FNV-1a 64 over the lower-cased email: stable across builds and restarts, which matters
// because the data directory's ids were allocated by it.
inline shard_index shard_of_email(std::string_view email, std::uint32_t shard_count) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (char c : email) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return static_cast<shard_index>(hash % shard_count);
}

// The id for the `sequence`-th entity allocated by shard `index` (sequence starts at 1).
inline entity_id make_id(std::uint64_t sequence, shard_index index, std::uint32_t shard_count) {
  return static_cast<entity_id>(sequence * shard_count + index);
}

inline std::uint64_t sequence_of(entity_id id, std::uint32_t shard_count) {
  return static_cast<std::uint64_t>(id) / shard_count;
}

}  // namespace ecom::engine
