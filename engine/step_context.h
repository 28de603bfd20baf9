// step_context: what a book's handler gets besides its command: the time (an input, never read
// from a clock here), where its records go, and the request's key when the answer is to be
// kept with the change. Handlers decide, encode their change as records and return the answer;
// the kernel (shard_state::run) does everything else about keys.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "engine/idempotency.h"
#include "engine/record.h"

namespace ecom::engine {

struct step_context {
  time_ms now = 0;
  std::vector<record>& out;
  const idempotency_key* key = nullptr;  // null: no key, or this step does not keep the answer
  bool entry_written = false;

  // The entry to write into the record of the change that `answer` reports, or nothing (no
  // key, or an answer the contract does not keep). Call it once, right before encoding.
  std::optional<idempotency_entry> entry_for(const reply& answer) {
    if (key == nullptr) return std::nullopt;
    auto entry = idempotency_table::entry_for(*key, answer, now);
    entry_written = entry.has_value();
    return entry;
  }
};

// Applies a record a book has just encoded to that book, then appends it to `out`: live
// changes go through apply() exactly as replay does. A freshly encoded record that does not
// apply to the state that made it is a bug, and live state and replay must never part ways:
// stop instead of writing it.
template <class Book>
void emit_record(Book& book, record_type type, shard_index shard, std::string payload,
                 std::vector<record>& out) {
  if (!book.apply(type, payload)) {
    std::fprintf(stderr, "fatal: a freshly encoded record of type %u does not apply; stopping\n",
                 static_cast<unsigned>(type));
    std::abort();
  }
  out.push_back(record{type, shard, std::move(payload)});
}

}  // namespace ecom::engine
