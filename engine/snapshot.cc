#include "engine/snapshot.h"

namespace ecom::engine {

std::optional<snapshot_key> snapshot_key::parse(std::string_view bytes) {
  if (bytes.size() != 9 && bytes.size() != 17) return std::nullopt;
  const auto table = static_cast<std::uint8_t>(bytes[0]);
  if (table == 0 || table > snapshot_table_last) return std::nullopt;
  const bool two_parts = static_cast<snapshot_table>(table) == snapshot_table::issued;
  if (two_parts != (bytes.size() == 17)) return std::nullopt;
  snapshot_key key(static_cast<snapshot_table>(table), load_be(bytes.data() + 1));
  if (two_parts) key = snapshot_key(key.table(), key.a(), load_be(bytes.data() + 9));
  return key;
}

}  // namespace ecom::engine
