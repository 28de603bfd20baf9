#include "engine/events.h"

#include <algorithm>

#include "engine/orders.h"

namespace ecom::engine {

reply event_book::handle(const record_event& command, time_ms, std::vector<record>& out) {
  if (has(command.order.id, command.type)) return reply{};  // sent again
  std::string payload;
  payload_writer w(payload);
  w.put(last_seq() + 1);
  w.put(command.type);
  w.put(command.at);
  write_order(w, command.order);
  check_applied(apply(record_type::event_recorded, payload), record_type::event_recorded);
  out.push_back(record{record_type::event_recorded, index_, std::move(payload)});
  return reply{};
}

reply event_book::handle(const list_events& command, time_ms, std::vector<record>&) {
  return reply{errc::ok, page(command.after, command.limit), false};
}

reply event_book::handle(const watch_events& command, time_ms, std::vector<record>&) {
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
  event.order = read_order(in);
  if (in.failed() || !in.at_end() || event.seq != last_seq() + 1 ||
      !recorded_.emplace(event.order.id, event.type).second) {
    return false;
  }
  events_.push_back(std::move(event));
  return true;
}

}  // namespace ecom::engine
