// The pacer's ticket counter and per-thread figures, merged into an open_loop_report.
#include "tools/ecom_load/open_loop.h"

#include <algorithm>
#include <cmath>

#include "tools/ecom_load/request_stats.h"

namespace ecom::load {

namespace {

double seconds_between(arrival_pacer::clock::time_point from, arrival_pacer::clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::size_t slot_of(double t_s, double slot_s) {
  return t_s <= 0 ? 0 : static_cast<std::size_t>(t_s / slot_s);
}

}  // namespace

arrival_pacer::arrival_pacer(arrival_schedule schedule, std::string target_text,
                             double late_threshold_ms, int worker_count, double slot_s)
    : schedule_(std::move(schedule)),
      target_text_(std::move(target_text)),
      late_threshold_ms_(late_threshold_ms),
      slot_s_(slot_s),
      workers_(static_cast<std::size_t>(std::max(worker_count, 1))) {}

std::optional<arrival_pacer::clock::time_point> arrival_pacer::take() {
  // Past the schedule's end nothing more is sent: what is still due stays unsent.
  if (seconds_between(t0_, clock::now()) >= schedule_.duration_s()) return std::nullopt;
  std::uint64_t index = next_.fetch_add(1, std::memory_order_relaxed);
  double due_s = schedule_.due_s(index);
  if (due_s >= schedule_.duration_s()) return std::nullopt;
  return t0_ + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(due_s));
}

void arrival_pacer::record(int worker, clock::time_point intended, clock::time_point write_start,
                           clock::time_point answered, std::chrono::nanoseconds service_latency) {
  worker_figures& w = workers_[static_cast<std::size_t>(worker) % workers_.size()];
  ++w.sent;
  auto delay = std::max(write_start - intended, clock::duration::zero());
  auto delay_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(delay).count());
  if (static_cast<double>(delay_us) > late_threshold_ms_ * 1000) ++w.sent_late;
  w.send_delay.record(delay_us);
  w.service_latency.record(static_cast<std::uint64_t>(service_latency.count() / 1000));
  bump_slot(w.sent_per_slot, slot_of(seconds_between(t0_, write_start), slot_s_));
  bump_slot(w.answered_per_slot, slot_of(seconds_between(t0_, answered), slot_s_));
}

void arrival_pacer::abandon(clock::time_point due) {
  std::lock_guard lock(abandoned_mutex_);
  abandoned_.push_back(due);
}

open_loop_report arrival_pacer::report(clock::time_point end) const {
  open_loop_report r;
  r.target_text = target_text_;
  r.schedule_s = schedule_.duration_s();
  r.late_threshold_ms = late_threshold_ms_;
  r.slot_s = slot_s_;
  r.run_s = std::clamp(seconds_between(t0_, end), 0.0, r.schedule_s);
  for (const auto& w : workers_) {
    r.sent += w.sent;
    r.sent_late += w.sent_late;
    r.service_latency.merge(w.service_latency);
    r.send_delay.merge(w.send_delay);
    add_slots(r.sent_per_slot, w.sent_per_slot);
    add_slots(r.answered_per_slot, w.answered_per_slot);
  }
  r.scheduled = schedule_.due_before(r.run_s);
  // Send times taken and left unused are not requests anyone wanted to send.
  std::uint64_t abandoned = 0;
  {
    std::lock_guard lock(abandoned_mutex_);
    auto run_end =
        t0_ + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(r.run_s));
    for (auto due : abandoned_) abandoned += due < run_end ? 1 : 0;
  }
  std::uint64_t accounted = r.sent + abandoned;
  r.unsent = r.scheduled > accounted ? r.scheduled - accounted : 0;
  auto slots = static_cast<std::size_t>(std::ceil(r.run_s / slot_s_));
  r.target_per_slot.assign(slots, 0);
  for (std::size_t i = 0; i < slots; ++i) {
    double from = static_cast<double>(i) * slot_s_;
    double to = std::min(from + slot_s_, r.run_s);
    r.target_per_slot[i] = schedule_.due_before(to) - schedule_.due_before(from);
  }
  r.sent_per_slot.resize(std::max(r.sent_per_slot.size(), slots), 0);
  r.answered_per_slot.resize(std::max(r.answered_per_slot.size(), slots), 0);
  return r;
}

}  // namespace ecom::load
