// The audit's reads with the admin token: for every user the balance, the whole balance
// history, every order and every coupon (over the pool); then every product of the run, the
// whole event log and the popular products of the last day (one blocking connection).
#include "tools/ecom_load/fcfs_setup.h"
#include "tools/ecom_load/mixed_run.h"
#include "tools/ecom_load/retrying_script.h"

#include <thread>

namespace ecom::load {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t page_body_bytes_max = 32 << 20;
constexpr int events_page_limit = 1000;

enum class read_stage : std::uint8_t { balance, history, orders, coupons, done };

struct audit_shared {
  const std::vector<user_record>& users;
  std::vector<user_snapshot>& snapshots;
  std::string admin_token;
};

// Reads users [index, end) one stage after the other, following next_cursor to the last page.
class audit_script final : public retrying_script {
 public:
  audit_script(audit_shared& shared, std::size_t begin, std::size_t end)
      : shared_(shared), index_(begin), end_(end) {}

 protected:
  bool produce(http_request& request) override {
    if (index_ >= end_) return false;
    std::string user = "/users/" + std::to_string(shared_.users[index_].user_id);
    request.method = http_method::get;
    request.body.clear();
    request.bearer_token = shared_.admin_token;
    request.body_limit_bytes = page_body_bytes_max;
    std::string cursor = cursor_.empty() ? "" : "&cursor=" + url_encode(cursor_);
    switch (stage_) {
      case read_stage::balance:
        request.target = user + "/balance";
        break;
      case read_stage::history:
        request.target = user + "/balance/history?limit=100" + cursor;
        break;
      case read_stage::orders:
        request.target = user + "/orders?limit=100" + cursor;
        break;
      case read_stage::coupons:
        request.target = user + "/coupons?limit=100" + cursor;
        break;
      case read_stage::done:
        return false;
    }
    return true;
  }

  milliseconds consume(const http_request& request, http_reply& reply, bool) override {
    user_snapshot& snapshot = shared_.snapshots[index_];
    if (reply.status != 200) {
      return finish_user("GET " + request.target + ": " + describe_answer(reply));
    }
    std::string error;
    switch (stage_) {
      case read_stage::balance:
        error = parse_balance(reply.body, snapshot.balance);
        break;
      case read_stage::history:
        error = parse_balance_page(reply.body, snapshot.history, cursor_);
        break;
      case read_stage::orders:
        error = parse_orders_page(reply.body, snapshot.orders, cursor_);
        break;
      case read_stage::coupons:
        error = parse_coupons_page(reply.body, snapshot.coupons, cursor_);
        break;
      case read_stage::done:
        break;
    }
    if (!error.empty()) return finish_user("GET " + request.target + ": " + error);
    if (!cursor_.empty()) return milliseconds(0);  // next page of the same list
    stage_ = static_cast<read_stage>(static_cast<int>(stage_) + 1);
    if (stage_ == read_stage::done) return finish_user("");
    return milliseconds(0);
  }

 private:
  milliseconds finish_user(std::string error) {
    shared_.snapshots[index_].read_error = std::move(error);
    ++index_;
    stage_ = read_stage::balance;
    cursor_.clear();
    return milliseconds(0);
  }

  audit_shared& shared_;
  std::size_t index_;
  std::size_t end_;
  read_stage stage_ = read_stage::balance;
  std::string cursor_;
};

// GET with the admin token, retrying 503 for up to about 20 s.
http_reply get_with_retry(blocking_client& client, const std::string& target,
                          const std::string& admin_token) {
  http_request request{http_method::get, target, "", admin_token, page_body_bytes_max, {}};
  http_reply reply;
  for (int attempt = 0; attempt < 200; ++attempt) {
    reply = client.send(request);
    if (reply.status != 503 && !(reply.status == 0 && attempt < 2)) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return reply;
}

void read_stock(blocking_client& client, const std::string& admin_token,
                const mixed_catalog& catalog, mixed_server_state& state) {
  for (const auto& product : catalog.products) {
    std::string target = "/products/" + std::to_string(product.id);
    http_reply reply = get_with_retry(client, target, admin_token);
    product_info now;
    std::string error =
        reply.status == 200 ? parse_product(reply.body, now) : describe_answer(reply);
    if (!error.empty()) {
      state.stock_error = "GET " + target + ": " + error;
      return;
    }
    for (const auto& c : now.combinations) state.stock[c.id] = c.initial_stock;
  }
}

void read_popular(blocking_client& client, const std::string& admin_token,
                  mixed_server_state& state) {
  std::string target = "/products/popular?days=1&limit=" + std::to_string(popular_limit_max);
  http_reply reply = get_with_retry(client, target, admin_token);
  std::string error =
      reply.status == 200 ? parse_popular(reply.body, state.popular) : describe_answer(reply);
  if (!error.empty()) state.popular_error = "GET " + target + ": " + error;
}

void read_events(blocking_client& client, const std::string& admin_token,
                 mixed_server_state& state) {
  std::int64_t after = 0;
  for (;;) {
    std::string target = "/admin/events?after=" + std::to_string(after) +
                         "&limit=" + std::to_string(events_page_limit);
    http_reply reply = get_with_retry(client, target, admin_token);
    if (reply.status != 200) {
      state.events_error = "GET " + target + ": " + describe_answer(reply);
      return;
    }
    std::size_t before = state.events.size();
    std::int64_t last_seq = 0;
    std::string error = parse_events_page(reply.body, state.events, last_seq);
    if (!error.empty()) {
      state.events_error = "GET " + target + ": " + error;
      return;
    }
    if (state.events.size() == before) {
      if (last_seq != after) {
        state.events_error =
            "GET " + target + ": no items but last_seq " + std::to_string(last_seq);
      }
      return;
    }
    if (last_seq != state.events.back().seq) {
      state.events_error = "GET " + target + ": last_seq " + std::to_string(last_seq) +
                           " is not the last item's seq " + std::to_string(state.events.back().seq);
      return;
    }
    after = last_seq;
  }
}

}  // namespace

mixed_server_state read_server_state(const pool_options& pool, int connection_count,
                                     const std::string& admin_token, const mixed_catalog& catalog,
                                     const std::vector<user_record>& users) {
  mixed_server_state state;
  state.users.resize(users.size());
  for (std::size_t i = 0; i < users.size(); ++i) state.users[i].user_id = users[i].user_id;
  audit_shared shared{users, state.users, admin_token};
  std::size_t count =
      std::min<std::size_t>(static_cast<std::size_t>(connection_count), users.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < count; ++c) {
    scripts.push_back(std::make_unique<audit_script>(shared, users.size() * c / count,
                                                     users.size() * (c + 1) / count));
  }
  std::size_t gave_up = run_connection_pool(pool, scripts, {});
  if (gave_up > 0) {
    for (auto& snapshot : state.users) {
      if (snapshot.read_error.empty() && snapshot.history.empty()) {
        snapshot.read_error = "connection gave up";
      }
    }
  }
  blocking_client client(pool.host, pool.port, std::max(pool.request_timeout, milliseconds(60000)));
  read_stock(client, admin_token, catalog, state);
  read_events(client, admin_token, state);
  read_popular(client, admin_token, state);
  return state;
}

}  // namespace ecom::load
