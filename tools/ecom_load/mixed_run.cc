// The mixed load phase: one session script per connection cycling over its slice of users.
// A session browses, maybe reads /products/popular, fills the cart (or builds an order
// directly), checks out with the user's coupon when it can, pays, and sometimes cancels before
// or after payment or leaves the order unpaid; cart lines of orders that were not paid are
// removed again. Every POST carries an Idempotency-Key so a transport failure can be retried.
// With read servers (--read-url), a session's GETs go to its read server and, after the last
// change to its order, it reads the order back with X-Ecomd-Min-Lsn = the highest X-Ecomd-Lsn
// of the user's own write answers, and compares its status with what the user did.
#include <algorithm>
#include <cassert>
#include <map>
#include <random>

#include "tools/ecom_load/mixed_restock.h"
#include "tools/ecom_load/mixed_run.h"
#include "tools/ecom_load/mixed_run_shared.h"
#include "tools/ecom_load/retrying_script.h"

namespace ecom::load {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace mixed_detail;

constexpr int browse_page_limit = 20;
constexpr double hot_product_share = 0.2;  // the first fifth of the products ...
constexpr double hot_pick_share = 0.5;     // ... get half of the picks
constexpr std::int64_t line_quantity_max = 3;
constexpr int lines_max = 3;

enum class stage : std::uint8_t {
  start,
  browse_list,
  browse_product,
  popular,
  order_read,
  add,
  create,
  pay,
  cancel,
  remove,
  end,
};

enum class intent : std::uint8_t { pay, cancel_before_payment, refund_after_payment, abandon };

struct planned_line {
  std::int64_t product_id = 0;
  std::int64_t combination_id = 0;
  std::int64_t quantity = 0;
  std::int64_t price = 0;
};

struct session {
  std::size_t user = 0;
  int views_left = 0;
  bool popular = false;
  bool direct = false;
  intent plan = intent::pay;
  std::vector<planned_line> lines;
  std::size_t next_line = 0;
  std::vector<std::int64_t> cart_items;  // added by this session, no duplicates
  std::int64_t cart_total = 0;           // of the lines added, at catalog prices
  std::int64_t coupon_sent = 0;
  std::size_t order = SIZE_MAX;  // index in the user's records
  bool order_read = false;       // read back already (or not to be)
};

// True when a request may or may not have been applied: no answer at all, or a busy answer
// (which changed nothing) after an attempt whose answer was lost.
bool outcome_unknown(const http_reply& reply, bool earlier_transport_failure) {
  if (reply.status == 0) return true;
  return earlier_transport_failure && (reply.status == 503 || retrying_script_busy(reply));
}

class session_script final : public retrying_script {
 public:
  // read_server: where the GETs go (0: the pool's server, k: read server k - 1).
  session_script(run_shared& shared, std::size_t begin, std::size_t end, std::uint64_t seed,
                 std::size_t read_server)
      : shared_(shared),
        begin_(begin),
        end_(end),
        next_user_(begin),
        rng_(seed),
        read_server_(read_server) {}

 protected:
  bool stopping() const override { return past_deadline(shared_); }

  bool produce(http_request& request) override {
    if (stopping()) return false;
    for (;;) {
      if (fill(request)) return true;
    }
  }

  void observe(const http_request& request, const http_reply& reply) override {
    // A DELETE has no Idempotency-Key: repeated after a lost answer it may find the line gone.
    bool lost = stage_ == stage::remove && reply.status == 404 && after_transport_failure();
    record_reply(shared_, current_op(), reply, lost);
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    if (request.method == http_method::get) {
      if (request.server == 0) {
        ++stats.reads.primary_reads;
      } else {
        stats.reads.record_standby(request.server - 1, reply.status, reply.body, reply.lsn,
                                   reply.primary_lsn_at_send);
      }
    } else if (reply.lsn >= 0) {
      std::int64_t& lsn = shared_.write_lsns[s_.user];
      lsn = std::max(lsn, reply.lsn);
    }
  }

  milliseconds consume(const http_request& request, http_reply& reply, bool earlier) override {
    unknown_ = outcome_unknown(reply, earlier);
    switch (stage_) {
      case stage::browse_list:
        stage_ = stage::browse_product;
        break;
      case stage::browse_product:
        --s_.views_left;
        break;
      case stage::popular:
        stage_ = stage::add;
        break;
      case stage::order_read:
        on_order_read(request, reply);
        stage_ = stage::end;
        break;
      case stage::add:
        on_added(reply);
        break;
      case stage::create:
        on_created(reply);
        break;
      case stage::pay:
        on_paid(reply);
        break;
      case stage::cancel:
        on_cancelled(reply);
        break;
      case stage::remove:
        s_.cart_items.pop_back();
        break;
      case stage::start:
      case stage::end:
        assert(false);
    }
    return milliseconds(0);
  }

 private:
  // Fills the request of the current stage; false when the stage had nothing to send and the
  // session moved on.
  bool fill(http_request& request) {
    request.body.clear();
    request.bearer_token.clear();
    request.idempotency_key.clear();
    request.body_limit_bytes = answer_body_bytes_max;
    request.server = 0;
    request.min_lsn = -1;
    switch (stage_) {
      case stage::start:
        begin_session();
        stage_ = stage::browse_list;
        return false;
      case stage::browse_list:
        get(request, "/products?limit=" + std::to_string(browse_page_limit));
        return true;
      case stage::browse_product:
        if (s_.views_left <= 0) {
          stage_ = stage::popular;
          return false;
        }
        get(request, "/products/" + std::to_string(pick_product().id));
        return true;
      case stage::popular:
        if (!s_.popular) {
          stage_ = stage::add;
          return false;
        }
        get(request, "/products/popular?days=1&limit=10");
        return true;
      case stage::add:
        if (s_.direct || s_.next_line >= s_.lines.size()) {
          stage_ = stage::create;
          return false;
        }
        post(request, user_path() + "/cart/items", line_json(s_.lines[s_.next_line]));
        return true;
      case stage::create:
        return fill_create(request);
      case stage::pay:
        post(request, order_path() + "/payment", "");
        return true;
      case stage::cancel:
        post(request, order_path() + "/cancel", "");
        return true;
      case stage::remove:
        if (s_.cart_items.empty()) {
          stage_ = stage::end;
          return false;
        }
        request.method = http_method::del;
        request.target = user_path() + "/cart/items/" + std::to_string(s_.cart_items.back());
        request.bearer_token = user().access_token;
        return true;
      case stage::order_read:
        get(request, order_path());
        request.bearer_token = user().access_token;
        request.min_lsn = shared_.write_lsns[s_.user];
        return true;
      case stage::end:
        if (read_server_ != 0 && s_.order != SIZE_MAX && !s_.order_read) {
          s_.order_read = true;
          stage_ = stage::order_read;
          return false;
        }
        shared_.live.session_count.fetch_add(1, std::memory_order_relaxed);
        ++sessions_;
        stage_ = stage::start;
        return false;
    }
    return false;
  }

  bool fill_create(http_request& request) {
    if (!s_.direct && s_.cart_items.empty()) {
      stage_ = stage::end;
      return false;
    }
    std::int64_t total = s_.direct ? planned_total() : s_.cart_total;
    s_.coupon_sent = 0;
    coupon_state& coupon = shared_.coupons[s_.user];
    if (coupon == coupon_state::available && total >= shared_.catalog.coupon.min_order_amount) {
      s_.coupon_sent = user().user_coupon_id;
    }
    std::string coupon_field =
        s_.coupon_sent ? ",\"user_coupon_id\":" + std::to_string(s_.coupon_sent) : "";
    if (s_.direct) {
      std::string items;
      for (const auto& line : s_.lines) {
        if (!items.empty()) items += ',';
        items += line_json(line);
      }
      post(request, user_path() + "/orders", "{\"items\":[" + items + "]" + coupon_field + "}");
    } else {
      std::string ids;
      for (auto id : s_.cart_items) {
        if (!ids.empty()) ids += ',';
        ids += std::to_string(id);
      }
      post(request, user_path() + "/cart/checkout",
           "{\"item_ids\":[" + ids + "]" + coupon_field + "}");
    }
    return true;
  }

  void begin_session() {
    s_ = session{};
    s_.user = next_user_;
    next_user_ = next_user_ + 1 >= end_ ? begin_ : next_user_ + 1;
    s_.views_left = 1 + static_cast<int>(rng_() % 2);
    s_.popular = chance(shared_.options.knobs.popular_share);
    s_.direct = chance(shared_.options.knobs.direct_share);
    double r = unit();
    const mixed_options& k = shared_.options.knobs;
    if (r < k.cancel_share / 2) {
      s_.plan = intent::cancel_before_payment;
    } else if (r < k.cancel_share) {
      s_.plan = intent::refund_after_payment;
    } else if (r < k.cancel_share + k.abandon_share) {
      s_.plan = intent::abandon;
    } else {
      s_.plan = intent::pay;
    }
    int line_count = 1 + static_cast<int>(rng_() % lines_max);
    for (int i = 0; i < line_count; ++i) {
      const product_info& product = pick_product();
      const combination_info& c = product.combinations[rng_() % product.combinations.size()];
      s_.lines.push_back(
          {product.id, c.id, 1 + static_cast<std::int64_t>(rng_() % line_quantity_max), c.price});
    }
  }

  void on_added(const http_reply& reply) {
    const planned_line& line = s_.lines[s_.next_line++];
    if (reply.status != 201) return;  // OUT_OF_STOCK, or counted as unexpected
    reply_fields fields;
    parse_reply_fields(reply.body, fields);
    if (fields.id <= 0) return;
    if (std::find(s_.cart_items.begin(), s_.cart_items.end(), fields.id) == s_.cart_items.end()) {
      s_.cart_items.push_back(fields.id);
    }
    s_.cart_total += line.quantity * line.price;
  }

  void on_created(const http_reply& reply) {
    user_record& u = user();
    if (unknown_) {
      // Maybe created: the order is unknown, the coupon may be in use.
      ++u.uncertain_creates;
      if (s_.coupon_sent) shared_.coupons[s_.user] = coupon_state::unknown;
      stage_ = stage::remove;
      return;
    }
    if (reply.status != 201) {
      stage_ = stage::remove;  // OUT_OF_STOCK, or counted as unexpected
      return;
    }
    reply_fields fields;
    parse_reply_fields(reply.body, fields);
    order_record record;
    record.order_id = fields.id;
    record.user_coupon_id = s_.coupon_sent;
    record.final_amount = fields.final_amount;
    u.orders.push_back(record);
    s_.order = u.orders.size() - 1;
    if (s_.coupon_sent) shared_.coupons[s_.user] = coupon_state::used;
    switch (s_.plan) {
      case intent::pay:
      case intent::refund_after_payment:
        stage_ = stage::pay;
        break;
      case intent::cancel_before_payment:
        stage_ = stage::cancel;
        break;
      case intent::abandon:
        stage_ = stage::remove;
        break;
    }
  }

  void on_paid(http_reply& reply) {
    order_record& record = user().orders[s_.order];
    if (reply.status == 200) {
      record.payment = step_result::ok;
      shared_.live.paid_count.fetch_add(1, std::memory_order_relaxed);
      worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
      bump_slot(stats.paid_per_slot, slot_now(shared_));
      s_.cart_items.clear();  // paid lines left the cart
      stage_ = s_.plan == intent::refund_after_payment ? stage::cancel : stage::end;
      return;
    }
    if (unknown_) {
      record.payment = step_result::uncertain;
      if (record.user_coupon_id) shared_.coupons[s_.user] = coupon_state::unknown;
      stage_ = stage::end;  // the lines may or may not have left the cart
      return;
    }
    if (reply.status == 503 || is_busy(reply)) {
      stage_ = stage::remove;  // stopped while the server was busy: nothing changed
      return;
    }
    reply_fields fields;
    parse_reply_fields(reply.body, fields);
    record.payment = step_result::rejected;
    record.payment_code = fields.code;
    shared_.live.payment_failed_count.fetch_add(1, std::memory_order_relaxed);
    // A failed payment restores the coupon.
    if (record.user_coupon_id && reply.status == 409) {
      shared_.coupons[s_.user] = coupon_state::available;
    }
    stage_ = stage::remove;
  }

  void on_cancelled(http_reply& reply) {
    order_record& record = user().orders[s_.order];
    if (reply.status == 200) {
      reply_fields fields;
      parse_reply_fields(reply.body, fields);
      record.cancel = step_result::ok;
      record.cancel_status = fields.status;
      if (record.user_coupon_id) shared_.coupons[s_.user] = coupon_state::available;
      stage_ = fields.status == "CANCELLED" ? stage::remove : stage::end;
      return;
    }
    if (unknown_) {
      record.cancel = step_result::uncertain;
      if (record.user_coupon_id) shared_.coupons[s_.user] = coupon_state::unknown;
    } else if (reply.status != 503 && !is_busy(reply)) {
      record.cancel = step_result::rejected;
    }
    stage_ = stage::end;
  }

  // The order read back after the session's last change to it: a 200 must show a status the
  // user's own answers allow (the standby waited for X-Ecomd-Min-Lsn), a 404 is stale too.
  void on_order_read(const http_request& request, const http_reply& reply) {
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    read_counts& reads = stats.reads;
    const order_record& record = user().orders[s_.order];
    ++reads.own_reads;
    if (request.min_lsn >= 0) ++reads.own_reads_with_min_lsn;
    if (reply.status != 200 && reply.status != 404) return;  // no answer, or still behind
    std::vector<std::string> allowed = allowed_statuses(record);
    if (allowed.empty()) return;
    ++reads.own_reads_checked;
    reply_fields fields;
    if (reply.status == 200) parse_reply_fields(reply.body, fields);
    if (reply.status == 200 && fields.id == record.order_id &&
        std::find(allowed.begin(), allowed.end(), fields.status) != allowed.end()) {
      return;
    }
    std::string shown = reply.status == 404 ? "404" : fields.status;
    reads.note_stale("user " + std::to_string(user().user_id) + " order " +
                     std::to_string(record.order_id) + ": expected " + allowed.front() + ", read " +
                     shown + " at LSN " + std::to_string(reply.lsn) + " with min LSN " +
                     std::to_string(request.min_lsn));
  }

  const product_info& pick_product() {
    const auto& products = shared_.catalog.products;
    std::size_t hot =
        std::max<std::size_t>(1, static_cast<std::size_t>(products.size() * hot_product_share));
    if (chance(hot_pick_share)) return products[rng_() % hot];
    return products[rng_() % products.size()];
  }

  std::int64_t planned_total() const {
    std::int64_t total = 0;
    for (const auto& line : s_.lines) total += line.quantity * line.price;
    return total;
  }

  static std::string line_json(const planned_line& line) {
    return "{\"product_id\":" + std::to_string(line.product_id) +
           ",\"combination_id\":" + std::to_string(line.combination_id) +
           ",\"quantity\":" + std::to_string(line.quantity) + "}";
  }

  void get(http_request& request, std::string target) {
    request.method = http_method::get;
    request.target = std::move(target);
    request.server = read_server_;
  }

  void post(http_request& request, std::string target, std::string body) {
    request.method = http_method::post;
    request.target = std::move(target);
    request.body = std::move(body);
    request.bearer_token = user().access_token;
    request.idempotency_key = shared_.options.key_prefix + "-" + std::to_string(user().user_id) +
                              "-" + std::to_string(++key_counter_);
  }

  mixed_op current_op() const {
    switch (stage_) {
      case stage::add:
        return mixed_op::add_to_cart;
      case stage::create:
        return s_.direct ? mixed_op::create_order : mixed_op::checkout;
      case stage::pay:
        return mixed_op::pay;
      case stage::cancel:
        return mixed_op::cancel;
      case stage::popular:
        return mixed_op::popular;
      case stage::remove:
        return mixed_op::remove_from_cart;
      case stage::order_read:
        return mixed_op::order_read;
      default:
        return mixed_op::browse;
    }
  }

  user_record& user() { return shared_.users[s_.user]; }
  std::string user_path() { return "/users/" + std::to_string(user().user_id); }
  std::string order_path() {
    return user_path() + "/orders/" + std::to_string(user().orders[s_.order].order_id);
  }
  bool chance(double p) { return unit() < p; }
  double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  run_shared& shared_;
  std::size_t begin_;
  std::size_t end_;
  std::size_t next_user_;
  std::mt19937_64 rng_;
  std::size_t read_server_;
  stage stage_ = stage::start;
  session s_;
  bool unknown_ = false;  // the last consumed request may or may not have been applied
  std::uint64_t key_counter_ = 0;
  std::uint64_t sessions_ = 0;
};

void merge_stats(const std::vector<worker_stats>& stats, mixed_measurements& out) {
  for (const auto& s : stats) {
    for (std::size_t i = 0; i < mixed_op_count; ++i) out.ops[i].merge(s.ops[i]);
    add_slots(out.requests_per_slot, s.requests_per_slot);
    add_slots(out.paid_per_slot, s.paid_per_slot);
  }
  out.paid_per_slot.resize(out.requests_per_slot.size(), 0);
}

}  // namespace

namespace mixed_detail {

std::size_t slot_now(const run_shared& shared) {
  return static_cast<std::size_t>(
      std::chrono::duration<double>(steady::now() - shared.started).count() / shared.slot_s);
}

void record_reply(run_shared& shared, mixed_op op_kind, const http_reply& reply,
                  bool after_lost_answer) {
  worker_stats& stats = shared.stats[static_cast<std::size_t>(current_worker_index())];
  request_stats& op = stats.ops[static_cast<std::size_t>(op_kind)];
  bump_slot(stats.requests_per_slot, slot_now(shared));
  shared.live.request_count.fetch_add(1, std::memory_order_relaxed);
  if (reply.status == 0) {
    op.record_transport_failure();
    return;
  }
  op.record_answer(reply.status, static_cast<std::uint64_t>(reply.latency.count() / 1000));
  if (reply.status >= 400) {
    reply_fields fields;
    parse_reply_fields(reply.body, fields);
    std::string code = fields.code.empty() ? "(none)" : fields.code;
    if (after_lost_answer) code += lost_answer_suffix;
    op.record_problem(reply.status, code);
  }
}

bool past_deadline(const run_shared& shared) {
  return shared.live.stop_requested.load(std::memory_order_relaxed) ||
         steady::now() >= shared.deadline;
}

}  // namespace mixed_detail

mixed_phase_result run_mixed_phase(const mixed_phase_options& options, mixed_catalog& catalog,
                                   std::vector<user_record>& users, mixed_live& live,
                                   const std::function<void()>& tick) {
  assert(options.connection_count >= 1 && !catalog.products.empty());
  mixed_phase_result result;
  std::vector<coupon_state> coupons(users.size(), coupon_state::none);
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (users[i].user_coupon_id != 0) coupons[i] = coupon_state::available;
  }
  std::vector<worker_stats> stats(static_cast<std::size_t>(options.pool.thread_count));
  auto started = steady::now();
  double slot_s = slot_width_s(options.duration.count());
  std::size_t read_server_count = options.pool.read_servers.size();
  for (auto& s : stats) s.reads = read_counts(read_server_count);
  std::vector<std::int64_t> write_lsns(users.size(), -1);
  run_shared shared{
      options, catalog,    users,
      coupons, write_lsns, stats,
      live,    started,    started + std::chrono::duration_cast<steady::duration>(options.duration),
      slot_s};
  std::size_t connection_count =
      std::min<std::size_t>(static_cast<std::size_t>(options.connection_count), users.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < connection_count; ++c) {
    std::size_t begin = users.size() * c / connection_count;
    std::size_t end = users.size() * (c + 1) / connection_count;
    // Connection c reads from read server c mod n: round-robin, the same on every run.
    std::size_t read_server = read_server_count == 0 ? 0 : 1 + c % read_server_count;
    scripts.push_back(std::make_unique<session_script>(
        shared, begin, end, options.knobs.seed * 1'000'003 + c, read_server));
  }
  auto restocker = std::make_unique<restock_script>(shared, options.knobs.seed * 7919 + 1);
  restock_script* restocks = restocker.get();
  scripts.push_back(std::move(restocker));
  result.connections_gave_up = run_connection_pool(options.pool, scripts, tick);
  catalog.restocks = restocks->restocks;
  catalog.restock_uncertain = restocks->uncertain;
  result.measurements.duration_s = std::chrono::duration<double>(steady::now() - started).count();
  result.measurements.slot_s = slot_s;
  result.measurements.session_count = live.session_count.load();
  merge_stats(stats, result.measurements);
  result.reads = read_counts(read_server_count);
  for (const auto& s : stats) result.reads.merge(s.reads);
  return result;
}

}  // namespace ecom::load
