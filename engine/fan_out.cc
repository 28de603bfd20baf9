#include "engine/fan_out.h"

#include "engine/answer.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <iterator>
#include <map>
#include <memory>

namespace ecom::engine {

namespace {

struct gather_state {
  gather_state(std::size_t count, gathered_callback done)
      : pending(count), replies(count), gathered(std::move(done)) {}
  std::atomic<std::size_t> pending;
  std::vector<reply> replies;
  gathered_callback gathered;
};

// Merges one page per shard (each ascending by id, at most `limit` long, `more` when the
// shard has further items): ascending by id, cut at `limit`; `next_after_id` is where the next
// page starts, 0 when there is none.
template <class Page>
Page merge_pages(std::vector<reply>& replies, std::uint32_t limit) {
  Page merged;
  bool more = false;
  for (auto& answer : replies) {
    auto& page = std::get<Page>(answer.body);
    more = more || page.more;
    std::move(page.items.begin(), page.items.end(), std::back_inserter(merged.items));
  }
  std::sort(merged.items.begin(), merged.items.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  more = more || merged.items.size() > limit;
  if (merged.items.size() > limit) merged.items.resize(limit);
  merged.next_after_id = more && !merged.items.empty() ? merged.items.back().id : 0;
  return merged;
}

// The first refusal among the replies (a shard that could not answer), if any.
const reply* first_refusal(const std::vector<reply>& replies) {
  for (const auto& answer : replies) {
    if (answer.code != errc::ok) return &answer;
  }
  return nullptr;
}

std::vector<std::pair<shard_index, command_body>> every_shard(const shard_set& shards,
                                                              const command_body& body) {
  std::vector<std::pair<shard_index, command_body>> asks;
  asks.reserve(shards.size());
  for (shard_index i = 0; i < shards.size(); ++i) asks.emplace_back(i, body);
  return asks;
}

}  // namespace

bool scatter(shard_set& shards, std::vector<std::pair<shard_index, command_body>> asks,
             reply_mode mode, lsn_t rests_on, bool bounded, gathered_callback gathered) {
  if (asks.empty()) {
    gathered({});
    return true;
  }
  auto state = std::make_shared<gather_state>(asks.size(), std::move(gathered));
  for (std::size_t i = 0; i < asks.size(); ++i) {
    command item{std::move(asks[i].second),
                 [state, i](reply&& answer) {
                   state->replies[i] = std::move(answer);
                   if (state->pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
                     state->gathered(std::move(state->replies));
                 },
                 mode,
                 key_step::none,
                 nullptr,
                 rests_on};
    shard& target = shards.at(asks[i].first);
    if (bounded) {
      // The asks already sent still answer; the count never reaches zero without this one.
      if (!target.post(item)) return false;
    } else {
      [[maybe_unused]] bool posted = target.post_always(item);
    }
  }
  return true;
}

void finish_after(shard_set& shards, std::vector<std::pair<shard_index, command_body>> steps,
                  reply&& answer, reply_callback done, reply_mode mode) {
  auto shared = std::make_shared<reply>(std::move(answer));
  scatter(shards, std::move(steps), mode, 0, false,
          [&shards, shared, done = std::move(done)](std::vector<reply>&&) mutable {
            finish_flow(shards.wal(), std::move(*shared), std::move(done));
          });
}

lsn_t rests_on_all(const std::vector<reply>& replies) {
  lsn_t most = 0;
  for (const auto& answer : replies) most = std::max(most, answer.rests_on);
  return most;
}

bool read_sale_facts(shard_set& shards, const std::vector<std::pair<entity_id, entity_id>>& items,
                     lsn_t rests_on, bool bounded, facts_callback then) {
  // One ask per owner shard, remembering where each answer goes.
  std::map<shard_index, std::vector<std::size_t>> by_shard;
  for (std::size_t i = 0; i < items.size(); ++i)
    by_shard[shards.owner_of_id(items[i].first)].push_back(i);
  std::vector<std::pair<shard_index, command_body>> asks;
  std::vector<std::vector<std::size_t>> positions;
  for (auto& [shard, where] : by_shard) {
    get_sale_facts ask;
    for (std::size_t position : where) ask.items.push_back(items[position]);
    asks.emplace_back(shard, std::move(ask));
    positions.push_back(std::move(where));
  }
  return scatter(shards, std::move(asks), reply_mode::feeds_next_step, rests_on, bounded,
                 [count = items.size(), positions = std::move(positions), rests_on,
                  then = std::move(then)](std::vector<reply>&& replies) {
                   std::vector<sale_fact> facts(count);
                   for (std::size_t s = 0; s < replies.size(); ++s) {
                     auto& part = std::get<sale_facts>(replies[s].body).items;
                     assert(part.size() == positions[s].size());
                     for (std::size_t k = 0; k < positions[s].size() && k < part.size(); ++k)
                       facts[positions[s][k]] = std::move(part[k]);
                   }
                   then(std::move(facts), std::max(rests_on, rests_on_all(replies)));
                 });
}

bool list_products_everywhere(shard_set& shards, entity_id after_id, std::uint32_t limit,
                              reply_callback done) {
  return scatter(shards, every_shard(shards, list_products{after_id, limit}), reply_mode::durable,
                 0, true, [limit, done = std::move(done)](std::vector<reply>&& replies) {
                   done(reply{errc::ok, merge_pages<product_page>(replies, limit), false});
                 });
}

bool list_campaigns_everywhere(shard_set& shards, entity_id after_id, std::uint32_t limit,
                               reply_callback done) {
  return scatter(shards, every_shard(shards, list_campaigns{after_id, limit}), reply_mode::durable,
                 0, true, [limit, done = std::move(done)](std::vector<reply>&& replies) {
                   done(reply{errc::ok, merge_pages<campaign_list>(replies, limit), false});
                 });
}

// Each shard's top `limit` holds every product of the overall top `limit`.
bool popular_products(shard_set& shards, time_ms since, std::uint32_t limit, reply_callback done) {
  return scatter(shards, every_shard(shards, top_products{since, limit}), reply_mode::durable, 0,
                 true, [limit, done = std::move(done)](std::vector<reply>&& replies) {
                   popular_page merged;
                   for (auto& answer : replies) {
                     auto& part = std::get<popular_page>(answer.body).items;
                     std::move(part.begin(), part.end(), std::back_inserter(merged.items));
                   }
                   std::sort(merged.items.begin(), merged.items.end(), more_popular);
                   if (merged.items.size() > limit) merged.items.resize(limit);
                   done(reply{errc::ok, std::move(merged), false});
                 });
}

bool shard_figures_everywhere(shard_set& shards, reply_callback done) {
  return scatter(shards, every_shard(shards, get_shard_figures{}), reply_mode::durable, 0, true,
                 [done = std::move(done)](std::vector<reply>&& replies) {
                   shard_figures_list list;
                   for (auto& answer : replies)
                     list.shards.push_back(std::get<shard_figures>(answer.body));
                   done(reply{errc::ok, std::move(list), false});
                 });
}

void apply_log_everywhere(shard_set& shards, std::shared_ptr<const log_batch> batch,
                          std::function<void(bool applied)> applied) {
  scatter(shards, every_shard(shards, apply_log{std::move(batch)}), reply_mode::feeds_next_step, 0,
          false, [applied = std::move(applied)](std::vector<reply>&& replies) {
            bool ok = true;
            for (const auto& answer : replies) ok = ok && answer.code == errc::ok;
            applied(ok);
          });
}

void bulk_create_users_everywhere(shard_set& shards, std::uint32_t count, std::string name_prefix,
                                  reply_callback done) {
  std::vector<std::pair<shard_index, command_body>> asks;
  const std::uint32_t shard_count = shards.size();
  for (shard_index i = 0; i < shard_count; ++i) {
    auto share = count / shard_count + (i < count % shard_count ? 1 : 0);
    asks.emplace_back(i, bulk_create_users{share, name_prefix});
  }
  scatter(shards, std::move(asks), reply_mode::durable, 0, false,
          [done = std::move(done)](std::vector<reply>&& replies) {
            if (const reply* refused = first_refusal(replies)) return done(reply(*refused));
            bulk_page all;
            for (auto& answer : replies) {
              auto& part = std::get<bulk_page>(answer.body).items;
              std::move(part.begin(), part.end(), std::back_inserter(all.items));
            }
            done(reply{errc::ok, std::move(all), false});
          });
}

}  // namespace ecom::engine
