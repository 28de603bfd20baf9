#include "engine/cart_flow.h"

#include "engine/answer.h"
#include "engine/fan_out.h"

namespace ecom::engine {

bool cart_flow::add_item(add_cart_item item, key_ptr key, reply_callback done) {
  shard_index product_shard = shards_.owner_of_id(item.product_id);
  get_sale_facts ask{{{item.product_id, item.combination_id}}};
  command facts{std::move(ask),
                [this, item = std::move(item), key = std::move(key),
                 done = std::move(done)](reply&& read) mutable {
                  item.fact = std::move(std::get<sale_facts>(read.body).items.at(0));
                  shard& user_shard = shards_.at(shards_.owner_of_id(item.user_id));
                  command add{std::move(item),     std::move(done),
                              reply_mode::durable, key ? key_step::check : key_step::none,
                              std::move(key),      read.rests_on};
                  [[maybe_unused]] bool posted = user_shard.post_always(add);
                },
                reply_mode::feeds_next_step};
  return shards_.at(product_shard).post(facts);
}

bool cart_flow::set_quantity(entity_id user_id, entity_id item_id, std::int64_t quantity,
                             reply_callback done) {
  shard& user_shard = shards_.at(shards_.owner_of_id(user_id));
  command line{
      get_cart_line{user_id, item_id},
      [this, &user_shard, user_id, item_id, quantity,
       done = std::move(done)](reply&& found) mutable {
        if (found.code != errc::ok)
          return finish_flow(shards_.wal(), std::move(found), std::move(done));
        const auto& held = std::get<cart_line>(found.body);
        command facts{
            get_sale_facts{{{held.product_id, held.combination_id}}},
            [&user_shard, user_id, item_id, quantity,
             done = std::move(done)](reply&& read) mutable {
              command set{set_cart_quantity{user_id, item_id, quantity,
                                            std::move(std::get<sale_facts>(read.body).items.at(0))},
                          std::move(done),
                          reply_mode::durable,
                          key_step::none,
                          nullptr,
                          read.rests_on};
              [[maybe_unused]] bool posted = user_shard.post_always(set);
            },
            reply_mode::feeds_next_step,
            key_step::none,
            nullptr,
            found.rests_on};
        shard& product_shard = shards_.at(shards_.owner_of_id(held.product_id));
        [[maybe_unused]] bool posted = product_shard.post_always(facts);
      },
      reply_mode::feeds_next_step};
  return user_shard.post(line);
}

bool cart_flow::read(entity_id user_id, reply_callback done) {
  command cart{get_cart{user_id},
               [this, done = std::move(done)](reply&& got) mutable {
                 if (got.code != errc::ok)
                   return finish_flow(shards_.wal(), std::move(got), std::move(done));
                 auto lines = std::get<cart_view>(std::move(got.body)).lines;
                 std::vector<std::pair<entity_id, entity_id>> asks;
                 asks.reserve(lines.size());
                 for (const auto& line : lines)
                   asks.emplace_back(line.product_id, line.combination_id);
                 read_sale_facts(
                     shards_, asks, got.rests_on, false,
                     [this, lines = std::move(lines), done = std::move(done)](
                         std::vector<sale_fact>&& facts, lsn_t rests_on) mutable {
                       cart_contents contents;
                       contents.items.reserve(lines.size());
                       for (std::size_t i = 0; i < lines.size(); ++i)
                         contents.items.push_back(cart_item_view{lines[i], std::move(facts[i])});
                       answer_when_durable(shards_.wal(), rests_on, std::move(done),
                                           reply{errc::ok, std::move(contents), false});
                     });
               },
               reply_mode::feeds_next_step};
  return shards_.at(shards_.owner_of_id(user_id)).post(cart);
}

}  // namespace ecom::engine
