#include "engine/events.h"

#include <algorithm>

#include "engine/value_codec.h"

namespace ecom::engine {

reply event_book::handle(const record_event& command, step_context& ctx) {
  if (has(command.order.id, command.type)) return reply{};  // sent again
  std::string payload;
  payload_writer w(payload);
  write_event(w, last_seq() + 1, command.type, command.at, command.order);
  emit_record(*this, record_type::event_recorded, index_, std::move(payload), ctx.out);
  return reply{};
}

reply event_book::handle(const list_events& command, step_context&) {
  return reply{errc::ok, page(command.after, command.limit), false};
}

event_page event_book::page(std::uint64_t after, std::uint32_t limit) const {
  event_page result;
  result.last_seq = after;
  for (std::uint64_t seq = after + 1; seq <= events_.size() && result.items.size() < limit; ++seq) {
    result.items.push_back(events_[seq - 1]);
    result.last_seq = seq;
  }
  return result;
}

bool event_book::apply(record_type type, std::string_view payload) {
  if (type != record_type::event_recorded) return false;
  payload_reader in(payload);
  order_event event;
  event.seq = in.get<std::uint64_t>();
  event.type = in.get<order_event_type>();
  event.at = in.get<time_ms>();
  read_value(in, event.order);
  if (in.failed() || !in.at_end() || event.seq != last_seq() + 1 ||
      !recorded_.emplace(event.order.id, event.type).second) {
    return false;
  }
  events_.push_back(std::move(event));
  return true;
}

void event_book::write_event(payload_writer& w, std::uint64_t seq, order_event_type type,
                             time_ms at, const order_view& order) {
  w.put(seq);
  w.put(type);
  w.put(at);
  write_value(w, order);
}

void event_book::begin_capture(capture_buffer&) {
  capture_events_.start(1, last_seq());
}

bool event_book::capture_step(capture_buffer& out, capture_budget& budget) {
  while (!budget.spent()) {
    auto seq = capture_events_.next();
    if (!seq) return true;
    budget.spend();
    put_entity(out, snapshot_key(snapshot_table::events, *seq), [&](payload_writer& w) {
      const order_event& e = events_[*seq - 1];
      write_event(w, e.seq, e.type, e.at, e.order);
    });
    capture_events_.advance();
  }
  return capture_events_.done();
}

void event_book::end_capture() {
  capture_events_.stop();
}

bool event_book::load(const snapshot_key& key, std::string_view value) {
  return key.table() == snapshot_table::events && key.a() == last_seq() + 1 &&
         apply(record_type::event_recorded, value);
}

void event_book::check_invariants(std::vector<std::string>& broken) const {
  for (std::size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].seq != i + 1) {
      broken.push_back("event feed: seq " + std::to_string(events_[i].seq) + " at position " +
                       std::to_string(i + 1));
    }
  }
  if (recorded_.size() != events_.size())
    broken.push_back("event feed: an (order, type) is recorded twice");
}

}  // namespace ecom::engine
