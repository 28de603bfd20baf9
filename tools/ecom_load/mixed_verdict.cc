// The mixed scenario's audit arithmetic: from the catalog made at setup, what the clients saw
// and what was read back, lists every broken invariant (one line per kind, with examples).
#include <algorithm>
#include <set>
#include <unordered_map>

#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

const char* op_name(mixed_op op) {
  switch (op) {
    case mixed_op::browse:
      return "browse";
    case mixed_op::add_to_cart:
      return "add_to_cart";
    case mixed_op::checkout:
      return "checkout";
    case mixed_op::create_order:
      return "create_order";
    case mixed_op::pay:
      return "pay";
    case mixed_op::cancel:
      return "cancel";
    case mixed_op::popular:
      return "popular";
    case mixed_op::remove_from_cart:
      return "remove_from_cart";
    case mixed_op::restock:
      return "restock";
    case mixed_op::order_read:
      return "order_read";
  }
  return "?";
}

bool op_shown(mixed_op op, const request_stats& stats) {
  return op != mixed_op::order_read || stats.request_count > 0;
}

std::int64_t discount_for(const coupon_terms& coupon, std::int64_t total) {
  if (coupon.type == "PERCENT") return total * coupon.amount / 100;
  return std::min(coupon.amount, total);
}

namespace {

constexpr std::size_t examples_max = 3;

// Success status and the 409 codes each op may get from a correct server under this load.
struct expected_answers {
  int success;
  std::vector<std::string> codes;
};

expected_answers expected_for(mixed_op op) {
  switch (op) {
    case mixed_op::browse:
    case mixed_op::popular:
      return {200, {}};
    case mixed_op::add_to_cart:
      return {201, {"OUT_OF_STOCK", "CART_FULL"}};
    case mixed_op::checkout:
    case mixed_op::create_order:
      return {201, {"OUT_OF_STOCK"}};
    case mixed_op::pay:
      return {200, {"INSUFFICIENT_BALANCE", "OUT_OF_STOCK"}};
    case mixed_op::cancel:
      return {200, {}};
    case mixed_op::remove_from_cart:
      return {204, {}};
    case mixed_op::restock:
      return {200, {"OUT_OF_STOCK"}};  // a negative delta below 0
    case mixed_op::order_read:
      return {200, {}};  // 503 REPLICA_BEHIND is retried like every 503
  }
  return {200, {}};
}

bool retried_everywhere(const std::string& problem) {
  return problem == "503 OVERLOADED" || problem == "503 NOT_READY" ||
         problem == "409 IDEMPOTENCY_KEY_IN_USE";
}

// Broken invariants by kind: a count and the first few examples of each.
class findings {
 public:
  void note(const std::string& kind, std::string example) {
    auto& entry = kinds_[kind];
    if (entry.count == 0) order_.push_back(kind);
    ++entry.count;
    if (entry.examples.size() < examples_max) entry.examples.push_back(std::move(example));
  }
  void write(std::vector<std::string>& failures) const {
    for (const auto& kind : order_) {
      const auto& entry = kinds_.at(kind);
      std::string line = kind + ": " + std::to_string(entry.count) + " (";
      for (std::size_t i = 0; i < entry.examples.size(); ++i) {
        line += (i ? "; " : "") + entry.examples[i];
      }
      bool more = entry.count > static_cast<std::int64_t>(entry.examples.size());
      failures.push_back(line + (more ? "; ...)" : ")"));
    }
  }

 private:
  struct kind_entry {
    std::int64_t count = 0;
    std::vector<std::string> examples;
  };
  std::map<std::string, kind_entry> kinds_;
  std::vector<std::string> order_;
};

std::string num(std::int64_t value) {
  return std::to_string(value);
}

bool holds_coupon(const std::string& status) {
  return status == "PENDING_PAYMENT" || status == "PAID";
}

bool was_paid(const std::string& status) {
  return status == "PAID" || status == "REFUNDED";
}

const std::set<std::string>& order_statuses() {
  static const std::set<std::string> statuses{"PENDING_PAYMENT", "PAID",    "PAYMENT_FAILED",
                                              "CANCELLED",       "EXPIRED", "REFUNDED"};
  return statuses;
}

struct audit_context {
  const mixed_catalog& catalog;
  std::unordered_map<std::int64_t, const combination_info*> combinations;
  std::unordered_map<std::int64_t, std::int64_t> paid_quantity;  // combination → PAID quantity
  std::unordered_map<std::int64_t, std::int64_t> sold;           // product → PAID quantity
  std::unordered_map<std::int64_t, std::string> run_orders;      // order id → status
  findings found;
  mixed_verdict& v;
};

void check_order_arithmetic(audit_context& a, const user_snapshot& user, const server_order& o) {
  std::string who = "order " + num(o.id) + " of user " + num(user.user_id);
  if (o.user_id != user.user_id) a.found.note("orders listed under another user", who);
  if (order_statuses().count(o.status) == 0)
    a.found.note("unknown order status", who + " " + o.status);
  if (o.items.empty()) a.found.note("orders without items", who);
  std::int64_t total = 0;
  for (const auto& line : o.items) {
    auto it = a.combinations.find(line.combination_id);
    if (it == a.combinations.end()) {
      a.found.note("order lines of a combination the run did not create",
                   who + " combination " + num(line.combination_id));
    } else if (line.unit_price != it->second->price) {
      a.found.note("unit_price differs from the combination's price",
                   who + ": " + num(line.unit_price) + " vs " + num(it->second->price));
    }
    if (line.quantity < 1 || line.line_total != line.quantity * line.unit_price) {
      a.found.note("line_total != quantity * unit_price", who + ": " + num(line.quantity) + " * " +
                                                              num(line.unit_price) +
                                                              " != " + num(line.line_total));
    }
    total += line.line_total;
    if (o.status == "PAID") {
      a.paid_quantity[line.combination_id] += line.quantity;
      a.sold[line.product_id] += line.quantity;
    }
  }
  std::int64_t discount = o.user_coupon_id != 0 ? discount_for(a.catalog.coupon, total) : 0;
  if (o.total_amount != total || o.discount_amount != discount ||
      o.final_amount != total - discount) {
    a.found.note("order amounts wrong", who + ": total " + num(o.total_amount) + " discount " +
                                            num(o.discount_amount) + " final " +
                                            num(o.final_amount) + ", expected " + num(total) + " " +
                                            num(discount) + " " + num(total - discount));
  }
}

}  // namespace

std::vector<std::string> allowed_statuses(const order_record& r) {
  if (r.payment == step_result::uncertain || r.cancel == step_result::uncertain) {
    if (r.payment == step_result::ok) return {"PAID", "REFUNDED"};
    return {};
  }
  if (r.cancel == step_result::ok) return {r.cancel_status};
  if (r.payment == step_result::ok) return {"PAID"};
  if (r.payment == step_result::rejected) return {"PAYMENT_FAILED"};
  return {"PENDING_PAYMENT", "EXPIRED"};
}

namespace {

void check_client_view(audit_context& a, const user_record& record, const user_snapshot& user,
                       const std::unordered_map<std::int64_t, const server_order*>& by_id) {
  std::string who = "user " + num(user.user_id);
  std::set<std::int64_t> known;
  for (const auto& r : record.orders) {
    if (r.order_id == 0) continue;
    known.insert(r.order_id);
    auto it = by_id.find(r.order_id);
    if (it == by_id.end()) {
      a.found.note("orders answered 201 but not listed", who + " order " + num(r.order_id));
      continue;
    }
    const server_order& o = *it->second;
    std::string what = "order " + num(o.id) + " (" + who + ")";
    if (o.user_coupon_id != r.user_coupon_id) {
      a.found.note("order coupon differs from the request",
                   what + ": " + num(o.user_coupon_id) + " vs sent " + num(r.user_coupon_id));
    }
    if (r.final_amount >= 0 && o.final_amount != r.final_amount) {
      a.found.note("final_amount differs from the 201",
                   what + ": " + num(o.final_amount) + " vs " + num(r.final_amount));
    }
    if (r.cancel == step_result::ok && r.cancel_status != "CANCELLED" &&
        r.cancel_status != "REFUNDED") {
      a.found.note("cancel answered 200 with another status", what + ": " + r.cancel_status);
    }
    if (r.cancel == step_result::ok && r.cancel_status == "REFUNDED" &&
        r.payment != step_result::ok && r.payment != step_result::uncertain) {
      a.found.note("refund of an order the client never paid", what);
    }
    auto allowed = allowed_statuses(r);
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), o.status) == allowed.end()) {
      std::string expected;
      for (const auto& s : allowed) expected += (expected.empty() ? "" : "|") + s;
      a.found.note("order status contradicts a client's answer",
                   what + " is " + o.status + ", expected " + expected);
    }
  }
  std::int64_t unexplained = 0;
  for (const auto& o : user.orders) {
    if (known.count(o.id)) continue;
    ++unexplained;
    if (o.status != "PENDING_PAYMENT" && o.status != "EXPIRED") {
      a.found.note("orders no client created reached a later state",
                   "order " + num(o.id) + " of " + who + " is " + o.status);
    }
  }
  if (unexplained > record.uncertain_creates) {
    a.found.note(
        "orders no client created",
        who + " has " + num(unexplained) + ", uncertain creates " + num(record.uncertain_creates));
  }
}

void check_balance(audit_context& a, const user_record& record, const user_snapshot& user,
                   const std::unordered_map<std::int64_t, const server_order*>& by_id) {
  std::string who = "user " + num(user.user_id);
  std::vector<balance_entry> entries = user.history;
  std::sort(entries.begin(), entries.end(),
            [](const balance_entry& x, const balance_entry& y) { return x.id < y.id; });
  std::int64_t running = 0, sum = 0, charged = 0;
  std::map<std::int64_t, std::int64_t> uses, refunds;  // order id → amount
  for (const auto& e : entries) {
    std::string at = who + " entry " + num(e.id);
    if (e.balance_after != e.balance_before + e.amount) {
      a.found.note("balance_after != balance_before + amount", at + ": " + num(e.balance_before) +
                                                                   " + " + num(e.amount) +
                                                                   " != " + num(e.balance_after));
    }
    if (e.balance_before != running) {
      a.found.note("balance history chain broken", at + ": balance_before " +
                                                       num(e.balance_before) +
                                                       ", previous balance_after " + num(running));
    }
    if (e.balance_after < 0) a.found.note("negative balance in history", at);
    bool sign_ok = (e.type == "CHARGE" && e.amount > 0) || (e.type == "USE" && e.amount <= 0) ||
                   (e.type == "REFUND" && e.amount > 0);
    if (!sign_ok)
      a.found.note("balance entry type/sign wrong", at + ": " + e.type + " " + num(e.amount));
    if (e.type == "CHARGE") charged += e.amount;
    if (e.type == "USE" && !uses.emplace(e.order_id, e.amount).second) {
      a.found.note("two USE entries for one order", at + " order " + num(e.order_id));
    }
    if (e.type == "REFUND" && !refunds.emplace(e.order_id, e.amount).second) {
      a.found.note("two REFUND entries for one order", at + " order " + num(e.order_id));
    }
    running = e.balance_after;
    sum += e.amount;
  }
  if (user.balance != sum) {
    a.found.note("balance != sum of history",
                 who + ": balance " + num(user.balance) + ", sum " + num(sum));
  }
  if (!entries.empty() && running != user.balance) {
    a.found.note("last balance_after != balance",
                 who + ": " + num(running) + " vs " + num(user.balance));
  }
  if (user.balance < 0) a.found.note("negative balance", who + ": " + num(user.balance));
  if (charged != record.charged) {
    a.found.note("CHARGE entries differ from the setup's charge",
                 who + ": " + num(charged) + " vs " + num(record.charged));
  }
  for (const auto& o : user.orders) {
    std::string what = "order " + num(o.id) + " (" + who + ", " + o.status + ")";
    auto use = uses.find(o.id);
    if (was_paid(o.status) != (use != uses.end())) {
      a.found.note("USE entries differ from paid orders",
                   what + (use == uses.end() ? " has no USE entry" : " has a USE entry"));
    } else if (use != uses.end() && use->second != -o.final_amount) {
      a.found.note("USE amount != -final_amount",
                   what + ": " + num(use->second) + " vs " + num(o.final_amount));
    }
    auto refund = refunds.find(o.id);
    // A refunded free order (final_amount 0) may or may not get a REFUND entry: the contract
    // only knows REFUND entries with amount > 0.
    bool free_refund = o.status == "REFUNDED" && o.final_amount == 0 && refund == refunds.end();
    if (!free_refund && (o.status == "REFUNDED") != (refund != refunds.end())) {
      a.found.note(
          "REFUND entries differ from refunded orders",
          what + (refund == refunds.end() ? " has no REFUND entry" : " has a REFUND entry"));
    } else if (refund != refunds.end() && refund->second != o.final_amount) {
      a.found.note("REFUND amount != final_amount",
                   what + ": " + num(refund->second) + " vs " + num(o.final_amount));
    }
  }
  for (const auto& table : {&uses, &refunds}) {
    for (const auto& [order_id, amount] : *table) {
      if (by_id.count(order_id) == 0) {
        a.found.note("balance entries of orders the user does not have",
                     who + " order " + num(order_id));
      }
    }
  }
}

void check_coupons(audit_context& a, const user_record& record, const user_snapshot& user) {
  std::string who = "user " + num(user.user_id);
  std::map<std::int64_t, std::int64_t> holders;  // coupon id → PENDING_PAYMENT/PAID orders
  for (const auto& o : user.orders) {
    if (o.user_coupon_id != 0 && holds_coupon(o.status)) ++holders[o.user_coupon_id];
  }
  std::int64_t of_campaign = 0;
  std::set<std::int64_t> held;
  for (const auto& c : user.coupons) {
    held.insert(c.id);
    if (c.fcfs_coupon_id == a.catalog.campaign_id) ++of_campaign;
    std::int64_t orders = holders.count(c.id) ? holders[c.id] : 0;
    std::string what = who + " coupon " + num(c.id) + " " + c.status;
    if (c.status == "USED") {
      ++a.v.coupons_used;
      if (orders != 1) {
        a.found.note("USED coupons not on exactly one PENDING_PAYMENT or PAID order",
                     what + " on " + num(orders));
      }
    } else if (orders != 0) {
      a.found.note("coupons on a PENDING_PAYMENT or PAID order but not USED",
                   what + " on " + num(orders));
    }
  }
  for (const auto& [coupon_id, orders] : holders) {
    if (held.count(coupon_id) == 0) {
      a.found.note("orders with a coupon the user does not hold",
                   who + " coupon " + num(coupon_id));
    }
  }
  if (of_campaign > 1) a.found.note("users holding two coupons of the campaign", who);
  bool holds_issued = record.user_coupon_id == 0 || held.count(record.user_coupon_id) > 0;
  if (!holds_issued || (record.user_coupon_id == 0 && of_campaign > 0)) {
    a.found.note("wallet differs from the setup's issue",
                 who + " was issued " + num(record.user_coupon_id));
  }
}

void check_stock(audit_context& a, const mixed_server_state& server) {
  if (!server.stock_error.empty()) {
    a.found.note("stock unreadable", server.stock_error);
    return;
  }
  for (const auto& product : a.catalog.products) {
    for (const auto& c : product.combinations) {
      ++a.v.combinations_checked;
      std::string what = "product " + num(product.id) + " combination " + num(c.id);
      auto now = server.stock.find(c.id);
      if (now == server.stock.end()) {
        a.found.note("combinations missing from the product", what);
        continue;
      }
      if (now->second < 0) a.found.note("negative stock", what + ": " + num(now->second));
      if (now->second == 0) ++a.v.sold_out_combinations;
      if (a.catalog.restock_uncertain.count(c.id)) continue;  // a lost restock answer
      auto restock = a.catalog.restocks.find(c.id);
      std::int64_t restocked = restock == a.catalog.restocks.end() ? 0 : restock->second;
      auto paid = a.paid_quantity.find(c.id);
      std::int64_t sold = paid == a.paid_quantity.end() ? 0 : paid->second;
      if (c.initial_stock + restocked - sold != now->second) {
        a.found.note("stock != initial + restocks - PAID quantities",
                     what + ": " + num(c.initial_stock) + " + " + num(restocked) + " - " +
                         num(sold) + " != " + num(now->second));
      }
    }
  }
}

void check_events(audit_context& a, const mixed_server_state& server) {
  if (!server.events_error.empty()) {
    a.found.note("events unreadable", server.events_error);
    return;
  }
  a.v.events_read = static_cast<std::int64_t>(server.events.size());
  struct seen {
    std::int64_t paid = 0, refunded = 0, paid_seq = 0, refunded_seq = 0;
  };
  std::unordered_map<std::int64_t, seen> by_order;
  for (std::size_t i = 0; i < server.events.size(); ++i) {
    const event_record& e = server.events[i];
    auto expected_seq = static_cast<std::int64_t>(i) + 1;
    if (e.seq != expected_seq) {
      a.found.note("event seq not gap-free from 1", "event " + num(static_cast<std::int64_t>(i)) +
                                                        " has seq " + num(e.seq) + ", expected " +
                                                        num(expected_seq));
    }
    if (a.run_orders.count(e.order_id) == 0) continue;
    bool status_fits = (e.type == "ORDER_PAID" && e.order_status == "PAID") ||
                       (e.type == "ORDER_REFUNDED" && e.order_status == "REFUNDED");
    if (!status_fits) {
      a.found.note(
          "event's order in another status than the event",
          "seq " + num(e.seq) + " " + e.type + " order " + num(e.order_id) + " " + e.order_status);
    }
    seen& s = by_order[e.order_id];
    if (e.type == "ORDER_PAID") {
      ++s.paid;
      s.paid_seq = e.seq;
      ++a.v.run_paid_events;
    } else if (e.type == "ORDER_REFUNDED") {
      ++s.refunded;
      s.refunded_seq = e.seq;
      ++a.v.run_refunded_events;
    } else {
      a.found.note("events of an unknown type", "seq " + num(e.seq) + " " + e.type);
    }
  }
  for (const auto& [order_id, status] : a.run_orders) {
    seen s = by_order.count(order_id) ? by_order[order_id] : seen{};
    std::int64_t want_paid = was_paid(status) ? 1 : 0;
    std::int64_t want_refunded = status == "REFUNDED" ? 1 : 0;
    std::string what = "order " + num(order_id) + " " + status;
    if (s.paid != want_paid) {
      a.found.note("ORDER_PAID events differ from PAID/REFUNDED orders",
                   what + " has " + num(s.paid));
    }
    if (s.refunded != want_refunded) {
      a.found.note("ORDER_REFUNDED events differ from REFUNDED orders",
                   what + " has " + num(s.refunded));
    }
    if (s.paid == 1 && s.refunded == 1 && s.refunded_seq < s.paid_seq) {
      a.found.note("ORDER_REFUNDED before ORDER_PAID", what);
    }
  }
}

// The run's products in the popular list sold exactly their PAID quantities (refunds taken
// off); one missing from a full list sold no more than its last item; the list is ranked 1..n
// by sold_quantity descending, ties by product_id ascending, nothing with 0 sold.
void check_popular(audit_context& a, const mixed_server_state& server) {
  if (!server.popular_error.empty()) {
    a.found.note("popular products unreadable", server.popular_error);
    return;
  }
  const auto& list = server.popular;
  std::unordered_map<std::int64_t, std::int64_t> listed;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const popular_item& p = list[i];
    listed[p.product_id] = p.sold_quantity;
    std::string what = "rank " + num(p.rank) + " product " + num(p.product_id);
    bool ordered =
        i == 0 || list[i - 1].sold_quantity > p.sold_quantity ||
        (list[i - 1].sold_quantity == p.sold_quantity && list[i - 1].product_id < p.product_id);
    if (p.rank != static_cast<std::int64_t>(i) + 1 || !ordered || p.sold_quantity <= 0) {
      a.found.note("popular list not ranked by sold_quantity", what);
    }
  }
  bool full = static_cast<std::int64_t>(list.size()) >= popular_limit_max;
  std::int64_t floor = list.empty() ? 0 : list.back().sold_quantity;
  for (const auto& product : a.catalog.products) {
    auto it = a.sold.find(product.id);
    std::int64_t expected = it == a.sold.end() ? 0 : it->second;
    auto shown = listed.find(product.id);
    std::string what = "product " + num(product.id);
    if (shown != listed.end()) {
      if (shown->second != expected) {
        a.found.note("popular sold_quantity != PAID quantities",
                     what + ": " + num(shown->second) + " vs " + num(expected));
      }
    } else if (expected > 0 && (!full || expected > floor)) {
      a.found.note("popular products missing",
                   what + " sold " + num(expected) + " but is not listed");
    }
  }
}

}  // namespace

std::vector<std::string> unexpected_answers(const op_table& ops) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto op = static_cast<mixed_op>(i);
    expected_answers expected = expected_for(op);
    const request_stats& s = ops[i];
    std::map<int, std::uint64_t> excused;  // status → answers after a lost answer
    for (const auto& [problem, count] : s.problem_codes) {
      if (problem.size() > lost_answer_suffix.size() &&
          problem.compare(problem.size() - lost_answer_suffix.size(), lost_answer_suffix.size(),
                          lost_answer_suffix) == 0) {
        excused[std::stoi(problem)] += count;
      }
    }
    for (const auto& [status, count] : s.status_counts) {
      if (status == 0 || status == expected.success || status == 409 || status == 503) continue;
      std::uint64_t left = count - std::min(count, excused[status]);
      if (left == 0) continue;
      out.push_back(std::string(op_name(op)) + " " + std::to_string(status) + " x" +
                    std::to_string(left));
    }
    std::uint64_t coded_409 = 0;
    for (const auto& [problem, count] : s.problem_codes) {
      if (problem.rfind("409 ", 0) == 0) coded_409 += count;
      if (problem.rfind("409 ", 0) != 0 || retried_everywhere(problem)) continue;
      std::string code = problem.substr(4);
      if (std::find(expected.codes.begin(), expected.codes.end(), code) != expected.codes.end()) {
        continue;
      }
      out.push_back(std::string(op_name(op)) + " " + problem + " x" + std::to_string(count));
    }
    auto all_409 = s.status_counts.find(409);
    if (all_409 != s.status_counts.end() && all_409->second > coded_409) {
      out.push_back(std::string(op_name(op)) + " 409 without code x" +
                    std::to_string(all_409->second - coded_409));
    }
  }
  return out;
}

mixed_verdict judge_mixed(const mixed_catalog& catalog, const std::vector<user_record>& users,
                          const mixed_server_state& server, const op_table& ops) {
  mixed_verdict v;
  audit_context a{catalog, {}, {}, {}, {}, {}, v};
  for (const auto& product : catalog.products) {
    for (const auto& c : product.combinations) a.combinations[c.id] = &c;
  }
  std::size_t count = std::min(users.size(), server.users.size());
  if (users.size() != server.users.size()) {
    a.found.note("audit read a different number of users",
                 num(static_cast<std::int64_t>(server.users.size())) + " of " +
                     num(static_cast<std::int64_t>(users.size())));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const user_snapshot& user = server.users[i];
    if (!user.read_error.empty()) {
      a.found.note("users unreadable", "user " + num(user.user_id) + ": " + user.read_error);
      continue;
    }
    ++v.users_audited;
    std::unordered_map<std::int64_t, const server_order*> by_id;
    for (const auto& o : user.orders) {
      ++v.orders_seen;
      ++v.order_status_counts[o.status];
      if (!by_id.emplace(o.id, &o).second) {
        a.found.note("orders listed twice", "order " + num(o.id));
        continue;
      }
      a.run_orders[o.id] = o.status;
      check_order_arithmetic(a, user, o);
    }
    check_client_view(a, users[i], user, by_id);
    check_balance(a, users[i], user, by_id);
    check_coupons(a, users[i], user);
  }
  check_stock(a, server);
  check_events(a, server);
  check_popular(a, server);
  a.found.write(v.failures);
  auto unexpected = unexpected_answers(ops);
  if (!unexpected.empty()) {
    std::string line = "unexpected answers: ";
    for (std::size_t i = 0; i < unexpected.size(); ++i) line += (i ? ", " : "") + unexpected[i];
    v.failures.push_back(line);
  }
  return v;
}

}  // namespace ecom::load
