// The snapshot decoder on arbitrary bytes: a shard that has not started loads the entities
// (framed as a capture writes them: [u8 key size][key][u32 value size][value]) one by one, as
// recovery does after each value's checksum passed. Whatever the bytes, load() answers true
// or false: no crash, no undefined behaviour, no leak, no unbounded allocation; and a state it
// accepted whole takes end_load() and the invariant check without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/shard_state.h"
#include "engine/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ecom::engine::shard_state state(0, 2);
  bool accepted = true;
  ecom::engine::for_each_captured(bytes, [&](std::string_view key, std::string_view value) {
    if (accepted) accepted = state.load(key, value);
  });
  if (accepted) {
    state.end_load();
    (void)state.check_invariants();
  }
  return 0;
}
