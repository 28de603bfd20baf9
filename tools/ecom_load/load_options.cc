// Command line of ecom-load: Boost.Program_options definitions, URL parsing and range checks.
#include "tools/ecom_load/load_options.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <sstream>

namespace ecom::load {

namespace po = boost::program_options;

std::string server_url::text() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool is_loopback_host(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

namespace {

std::uint16_t parse_port(const std::string& text, const std::string& where) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    throw usage_error(where + ": port must be 1..65535");
  }
  return static_cast<std::uint16_t>(value);
}

// Splits "host:port", "[v6]:port", "host" or "[v6]" into host and port text.
// where ("--url http://...") starts every message.
void split_authority(const std::string& authority, const std::string& where, std::string& host,
                     std::string& port) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) throw usage_error(where + ": unclosed '['");
    host = authority.substr(1, close - 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') throw usage_error(where + ": bad host");
    port = rest.empty() ? "" : rest.substr(1);
    return;
  }
  auto colon = authority.rfind(':');
  host = authority.substr(0, colon);
  port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  if (colon != std::string::npos && port.empty()) throw usage_error(where + ": empty port");
}

}  // namespace

server_url parse_server_url(const std::string& text, bool allow_remote, const std::string& flag) {
  const std::string scheme = "http://";
  const std::string where = flag + " " + text;
  if (text.rfind("https://", 0) == 0) throw usage_error(where + ": TLS is not supported");
  if (text.rfind(scheme, 0) != 0) throw usage_error(where + ": expected http://HOST:PORT");
  std::string authority = text.substr(scheme.size());
  if (!authority.empty() && authority.back() == '/') authority.pop_back();
  if (authority.find('/') != std::string::npos || authority.find('@') != std::string::npos ||
      authority.find('?') != std::string::npos) {
    throw usage_error(where + ": only http://HOST:PORT is accepted (no path)");
  }
  std::string host, port;
  split_authority(authority, where, host, port);
  if (host.empty()) throw usage_error(where + ": missing host");
  server_url url{host, port.empty() ? std::uint16_t{80} : parse_port(port, where)};
  if (!allow_remote && !is_loopback_host(url.host)) {
    throw usage_error(where +
                      ": host is not loopback (127.0.0.1, localhost, [::1]); pass --allow-remote "
                      "to load another host");
  }
  return url;
}

namespace {

po::options_description option_descriptions(load_options& o) {
  po::options_description common("common options");
  common.add_options()("help,h", "show this help")(
      "url", po::value<std::string>(), "server, http://HOST:PORT (loopback unless --allow-remote)")(
      "read-url", po::value<std::vector<std::string>>(),
      "standby for the load phase's GETs, http://HOST:PORT (repeatable, up to 16; writes and "
      "setup stay on --url; replication lag is reported)")(
      "admin-token", po::value<std::string>(), "admin bearer token (default: $ECOM_ADMIN_TOKEN)")(
      "users", po::value(&o.user_count), "users to create (bulk, default 1000)")(
      "connections", po::value(&o.connection_count), "keep-alive connections (default 64)")(
      "duration", po::value(&o.duration_s), "seconds at most for the load phase (default 30)")(
      "threads", po::value(&o.thread_count), "I/O threads (default 2)")(
      "request-timeout", po::value(&o.request_timeout_s), "seconds per request (default 30)")(
      "json", po::bool_switch(&o.json), "print a JSON summary on stdout")(
      "report", po::value(&o.report_path), "write an HTML report to this file")(
      "allow-remote", po::bool_switch(&o.allow_remote), "allow a non-loopback host")(
      "no-progress", "no live progress on stderr")(
      "rate", po::value<double>(),
      "open loop: send at this constant rate (requests/s) for --duration; latencies count from "
      "each request's intended send time")(
      "stages", po::value<std::string>(),
      "open loop: ramping rate, e.g. 30s:1000,60s:20000,30s:0 (from 0, linear to each target; "
      "replaces --duration)")(
      "late-ms", po::value(&o.late_ms),
      "open loop: a request sent more than this after its time counts as late (default 10)");
  po::options_description sale("fcfs: the opening bell, fairness and retries");
  sale.add_options()("opens-in", po::value<double>(),
                     "create the campaign opening this many seconds after setup; warm every "
                     "connection and send every connection's first issue at the bell")(
      "early-share", po::value<double>(),
      "with --opens-in: share of connections whose first user refreshes early (default 0.1)")(
      "fairness-tolerance-ms", po::value<double>(),
      "a loser who sent earlier than a winner by more than this is an inversion (default 1)")(
      "retry-on", po::value<std::string>(),
      "statuses retried after their Retry-After: a list of 429 and 503, or none (default 503)")(
      "idempotency", "an Idempotency-Key per user and click on issue requests");
  po::options_description fcfs("fcfs: users race for the coupons of one FCFS campaign");
  fcfs.add_options()("quantity", po::value<std::int64_t>(),
                     "coupons in the new campaign (default 100)")(
      "campaign", po::value<std::int64_t>(), "reuse this FCFS campaign instead (quantity read)")(
      "wallet-check-max", po::value<std::int64_t>(), "wallets to check (default: all who asked)");
  po::options_description mixed(
      "mixed: user sessions browse, fill carts, order, pay and cancel; an audit follows");
  mixed.add_options()("products", po::value<std::int64_t>(),
                      "products to create (default 20; some with option combinations)")(
      "coupon-share", po::value<double>(), "share of users given a coupon (default 0.3)")(
      "cancel-share", po::value<double>(), "share of orders cancelled or refunded (default 0.1)")(
      "direct-share", po::value<double>(),
      "share of orders made with POST /users/{id}/orders, not the cart (default 0.2)")(
      "popular-share", po::value<double>(),
      "share of sessions that read /products/popular (default 0.1)")(
      "abandon-share", po::value<double>(), "share of orders left unpaid (default 0.05)")(
      "seed", po::value<std::uint64_t>(), "random seed of setup and sessions (default 1)");
  po::options_description all("ecom-load fcfs|mixed [options]");
  all.add(common).add(fcfs).add(sale).add(mixed);
  return all;
}

template <typename T>
void check_range(const char* name, T value, T low, T high) {
  if (!(value >= low && value <= high)) {
    std::ostringstream message;
    message << "--" << name << " must be in " << low << ".." << high << " (got " << value << ")";
    throw usage_error(message.str());
  }
}

void check_ranges(const load_options& o) {
  check_range<std::int64_t>("users", o.user_count, 1, user_count_max);
  check_range<std::int64_t>("quantity", o.quantity, 1, quantity_max);
  check_range("connections", o.connection_count, 1, connection_count_max);
  if (!(o.duration_s > 0)) throw usage_error("--duration must be > 0 seconds");
  check_range("duration", o.duration_s, 0.0, duration_s_max);
  check_range("threads", o.thread_count, 1, thread_count_max);
  if (!(o.request_timeout_s > 0)) throw usage_error("--request-timeout must be > 0 seconds");
  check_range("request-timeout", o.request_timeout_s, 0.0, 3600.0);
  if (o.campaign_id && *o.campaign_id < 1) throw usage_error("--campaign must be a positive id");
  if (o.wallet_check_max && *o.wallet_check_max < 0) {
    throw usage_error("--wallet-check-max must be >= 0");
  }
  const mixed_options& m = o.mixed;
  check_range<std::int64_t>("products", m.product_count, 1, product_count_max);
  check_range("coupon-share", m.coupon_share, 0.0, 1.0);
  check_range("cancel-share", m.cancel_share, 0.0, 1.0);
  check_range("direct-share", m.direct_share, 0.0, 1.0);
  check_range("popular-share", m.popular_share, 0.0, 1.0);
  check_range("abandon-share", m.abandon_share, 0.0, 1.0);
  if (m.cancel_share + m.abandon_share > 1.0) {
    throw usage_error("--cancel-share + --abandon-share must be <= 1");
  }
  if (o.rate_per_s && !(*o.rate_per_s > 0 && *o.rate_per_s <= arrival_rate_per_s_max)) {
    throw usage_error("--rate must be in (0.." +
                      std::to_string(static_cast<long long>(arrival_rate_per_s_max)) +
                      "] requests/s");
  }
  check_range("late-ms", o.late_ms, 0.0, late_ms_max);
  if (o.opens_in_s) check_range("opens-in", *o.opens_in_s, opens_in_s_min, opens_in_s_max);
  check_range("early-share", o.early_share, 0.0, 1.0);
  check_range("fairness-tolerance-ms", o.fairness_tolerance_ms, 0.0, fairness_tolerance_ms_max);
}

// "503", "429,503" or "none".
std::vector<int> parse_retry_on(const std::string& text) {
  std::vector<int> statuses;
  if (text == "none") return statuses;
  std::size_t begin = 0;
  while (true) {
    std::size_t comma = text.find(',', begin);
    std::string item = text.substr(begin, comma == std::string::npos ? comma : comma - begin);
    if (item != "429" && item != "503") {
      throw usage_error("--retry-on " + text + ": '" + item +
                        "' is not retried (expected a list of 429 and 503, or none)");
    }
    int status = item == "429" ? 429 : 503;
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
      statuses.push_back(status);
    }
    if (comma == std::string::npos) return statuses;
    begin = comma + 1;
  }
}

// --rate, --stages and --duration: at most one of the first two, and --stages sets the length.
void apply_open_loop(const po::variables_map& vm, load_options& o) {
  if (vm.count("rate") && vm.count("stages")) {
    throw usage_error("--rate and --stages exclude each other");
  }
  if (vm.count("rate")) o.rate_per_s = vm["rate"].as<double>();
  if (vm.count("stages")) {
    if (vm.count("duration")) {
      throw usage_error("--stages and --duration exclude each other (the stages set the length)");
    }
    o.stages_text = vm["stages"].as<std::string>();
    try {
      o.stages = parse_arrival_stages(o.stages_text, duration_s_max);
    } catch (const stages_error& e) {
      throw usage_error(std::string("--stages: ") + e.what());
    }
    o.duration_s = 0;
    for (const auto& stage : o.stages) o.duration_s += stage.duration_s;
  }
  if (vm.count("late-ms") && !o.open_loop()) {
    throw usage_error("--late-ms needs --rate or --stages");
  }
  if (vm.count("opens-in")) {
    if (vm.count("campaign")) {
      throw usage_error("--opens-in creates its own campaign; it excludes --campaign");
    }
    o.opens_in_s = vm["opens-in"].as<double>();
  }
  if (vm.count("early-share")) {
    if (!o.opens_in_s) throw usage_error("--early-share needs --opens-in");
    o.early_share = vm["early-share"].as<double>();
  }
  if (vm.count("fairness-tolerance-ms")) {
    o.fairness_tolerance_ms = vm["fairness-tolerance-ms"].as<double>();
  }
  if (vm.count("retry-on")) o.retry_on = parse_retry_on(vm["retry-on"].as<std::string>());
  o.idempotency = vm.count("idempotency") > 0;
}

constexpr const char* fcfs_only[] = {"quantity", "campaign",    "wallet-check-max",
                                     "opens-in", "early-share", "fairness-tolerance-ms",
                                     "retry-on", "idempotency"};
constexpr const char* mixed_only[] = {"products",     "coupon-share",  "cancel-share",
                                      "direct-share", "popular-share", "abandon-share",
                                      "seed"};

// An option of the other scenario is a mistake, not something to ignore silently.
void reject_foreign_options(const po::variables_map& vm, const std::string& scenario) {
  auto reject = [&](const auto& names, const char* owner) {
    for (const char* name : names) {
      if (vm.count(name)) {
        throw usage_error(std::string("--") + name + " belongs to the " + owner +
                          " scenario, not " + scenario);
      }
    }
  };
  if (scenario == "fcfs") reject(mixed_only, "mixed");
  if (scenario == "mixed") reject(fcfs_only, "fcfs");
}

void apply_mixed(const po::variables_map& vm, mixed_options& m) {
  if (vm.count("products")) m.product_count = vm["products"].as<std::int64_t>();
  if (vm.count("coupon-share")) m.coupon_share = vm["coupon-share"].as<double>();
  if (vm.count("cancel-share")) m.cancel_share = vm["cancel-share"].as<double>();
  if (vm.count("direct-share")) m.direct_share = vm["direct-share"].as<double>();
  if (vm.count("popular-share")) m.popular_share = vm["popular-share"].as<double>();
  if (vm.count("abandon-share")) m.abandon_share = vm["abandon-share"].as<double>();
  if (vm.count("seed")) m.seed = vm["seed"].as<std::uint64_t>();
}

// --read-url values: the --url rules each, at most read_urls_max, none twice (the same server as
// --url is allowed: its reads then go to the primary's own second connection).
std::vector<server_url> parse_read_urls(const std::vector<std::string>& texts, bool allow_remote) {
  if (texts.size() > read_urls_max) {
    throw usage_error("--read-url given " + std::to_string(texts.size()) + " times; at most " +
                      std::to_string(read_urls_max));
  }
  std::vector<server_url> urls;
  for (const auto& text : texts) {
    server_url url = parse_server_url(text, allow_remote, "--read-url");
    for (const auto& earlier : urls) {
      if (earlier.host == url.host && earlier.port == url.port) {
        throw usage_error("--read-url " + text + ": given twice");
      }
    }
    urls.push_back(std::move(url));
  }
  return urls;
}

// Copies the optional values and cross-checks them.
void apply_parsed(const po::variables_map& vm, const char* admin_token_env, load_options& o) {
  if (vm.count("scenario") == 0) throw usage_error("missing scenario (expected: fcfs or mixed)");
  o.scenario = vm["scenario"].as<std::string>();
  if (o.scenario != "fcfs" && o.scenario != "mixed")
    throw usage_error("unknown scenario '" + o.scenario + "' (expected: fcfs or mixed)");
  reject_foreign_options(vm, o.scenario);
  if (vm.count("url") == 0) throw usage_error("missing --url http://HOST:PORT");
  o.url = parse_server_url(vm["url"].as<std::string>(), o.allow_remote);
  if (vm.count("read-url"))
    o.read_urls = parse_read_urls(vm["read-url"].as<std::vector<std::string>>(), o.allow_remote);
  if (vm.count("admin-token")) {
    o.admin_token = vm["admin-token"].as<std::string>();
  } else if (admin_token_env != nullptr) {
    o.admin_token = admin_token_env;
  }
  if (o.admin_token.empty()) throw usage_error("missing --admin-token (or ECOM_ADMIN_TOKEN)");
  if (vm.count("quantity") && vm.count("campaign")) {
    throw usage_error("--quantity and --campaign exclude each other (the campaign has one)");
  }
  if (vm.count("quantity")) o.quantity = vm["quantity"].as<std::int64_t>();
  if (vm.count("campaign")) o.campaign_id = vm["campaign"].as<std::int64_t>();
  if (vm.count("wallet-check-max")) o.wallet_check_max = vm["wallet-check-max"].as<std::int64_t>();
  apply_mixed(vm, o.mixed);
  apply_open_loop(vm, o);
  o.progress = vm.count("no-progress") == 0;
  check_ranges(o);
}

}  // namespace

parse_result parse_load_options(const std::vector<std::string>& args, const char* admin_token_env) {
  load_options o;
  po::options_description visible = option_descriptions(o);
  po::options_description all = visible;
  all.add_options()("scenario", po::value<std::string>(), "scenario");
  po::positional_options_description positional;
  positional.add("scenario", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  std::ostringstream help;
  help << visible;
  if (vm.count("help")) return {std::nullopt, help.str()};
  apply_parsed(vm, admin_token_env, o);
  return {std::move(o), help.str()};
}

}  // namespace ecom::load
