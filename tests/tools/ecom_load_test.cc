// End-to-end tests of the ecom-load binary: it runs as a child process against a real ecomd
// (one per suite) and its exit code, stdout, stderr, --json and --report are checked, and its
// verdict is cross-checked through the API.
#include <ctime>
#include <regex>
#include <sstream>

#include "tests/e2e/e2e_fixture.h"
#include "tests/tools/ecom_load_process.h"

namespace ecom::test {
namespace {

std::string last_line(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  auto at = trimmed.rfind('\n');
  return at == std::string::npos ? trimmed : trimmed.substr(at + 1);
}

bool has_line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string rfc3339_in(int offset_s) {
  std::time_t at = std::time(nullptr) + offset_s;
  std::tm utc{};
  gmtime_r(&at, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

class ecom_load : public shared_server_test {
 protected:
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server().port()); }

  std::vector<std::string> fcfs_args(int users, int connections) const {
    return with(scenario_args("fcfs", url(), admin(), users, connections), {"--duration", "10"});
  }

  // POST /admin/coupons and /admin/fcfs-coupons; returns the campaign id.
  int64_t create_campaign(int64_t quantity) {
    auto coupon = client().post_json("/admin/coupons",
                                     json_object()
                                         .add("name", "outside")
                                         .add("type", "FIXED")
                                         .add("amount", 1000)
                                         .add("min_order_amount", 0)
                                         .add("valid_days", 30)
                                         .str(),
                                     bearer(admin()));
    if (coupon.status != 201) throw std::runtime_error("coupon: " + describe(coupon));
    auto campaign = client().post_json("/admin/fcfs-coupons",
                                       json_object()
                                           .add("coupon_id", parse_json(coupon.body)["id"].as_int())
                                           .add("total_quantity", quantity)
                                           .add("start_at", rfc3339_in(-5))
                                           .add("end_at", rfc3339_in(3600))
                                           .str(),
                                       bearer(admin()));
    if (campaign.status != 201) throw std::runtime_error("campaign: " + describe(campaign));
    return parse_json(campaign.body)["id"].as_int();
  }

  // Issues one coupon of the campaign to a new user that is not one of ecom-load's.
  void issue_to_outside_user(int64_t campaign_id) {
    auto bulk = client().post_json(
        "/admin/users/bulk", json_object().add("count", 1).add("name_prefix", "outside").str(),
        bearer(admin()));
    ASSERT_EQ(bulk.status, 201) << describe(bulk);
    std::string token = parse_json(bulk.body)["items"][0]["access_token"].as_string();
    auto issued = client().request(
        "POST", "/coupons/fcfs/" + std::to_string(campaign_id) + "/issue", "", bearer(token));
    ASSERT_EQ(issued.status, 201) << describe(issued);
  }

  json_doc read_campaign(int64_t campaign_id) {
    auto response = client().get("/coupons/fcfs/" + std::to_string(campaign_id));
    if (response.status != 200) throw std::runtime_error("campaign: " + describe(response));
    return parse_json(response.body);
  }
};

int64_t campaign_id_in(const std::string& summary) {
  std::smatch match;
  if (!std::regex_search(summary, match, std::regex("campaign ([0-9]+),"))) return -1;
  return std::stoll(match[1]);
}

// Goal: a correct server gets PASS with the exact counts. Method: 300 users race for 50
// coupons on 16 connections; the summary and the campaign read back through the API agree.
TEST_F(ecom_load, sold_out_campaign_passes_with_exact_counts) {
  auto args = fcfs_args(300, 16);
  args.insert(args.end(), {"--quantity", "50"});
  auto run = run_ecom_load(args);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(last_line(run.out), "invariants: PASS") << run.describe();
  EXPECT_TRUE(has_line_starting(run.out, "  201: 50")) << run.out;
  EXPECT_TRUE(has_line_starting(run.out, "  409 COUPON_SOLD_OUT: 250")) << run.out;
  EXPECT_TRUE(has_line_starting(run.out, "issued: 50 of quantity 50; users who asked 300"))
      << run.out;
  EXPECT_TRUE(has_line_starting(run.out, "wallets checked: 300")) << run.out;
  int64_t campaign_id = campaign_id_in(run.out);
  ASSERT_GT(campaign_id, 0) << run.out;
  auto campaign = read_campaign(campaign_id);
  EXPECT_EQ(campaign["remaining_quantity"].as_int(), 0);
  EXPECT_EQ(campaign["total_quantity"].as_int(), 50);
  EXPECT_EQ(campaign["status"].as_string(), "SOLD_OUT");
}

// Goal: when every user can get one, all do. Method: 40 users, quantity 100.
TEST_F(ecom_load, campaign_larger_than_the_crowd_issues_to_everyone) {
  auto args = fcfs_args(40, 8);
  args.insert(args.end(), {"--quantity", "100"});
  auto run = run_ecom_load(args);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(has_line_starting(run.out, "issued: 40 of quantity 100")) << run.out;
  EXPECT_EQ(read_campaign(campaign_id_in(run.out))["remaining_quantity"].as_int(), 60);
}

// Goal: ecom-load notices a count it did not cause. Method: a coupon of the campaign goes to
// an outside user before the run; then issued (19 of 20) and remaining_quantity disagree.
TEST_F(ecom_load, coupon_issued_outside_the_run_is_a_fail) {
  int64_t campaign_id = create_campaign(20);
  issue_to_outside_user(campaign_id);
  auto args = fcfs_args(100, 8);
  args.insert(args.end(), {"--campaign", std::to_string(campaign_id)});
  auto run = run_ecom_load(args);
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_TRUE(has_line_starting(run.out, "invariants: FAIL")) << run.describe();
  EXPECT_NE(run.out.find("issued 19, expected min(quantity 20, users who asked 100) = 20"),
            std::string::npos)
      << run.out;
}

// Goal: the remaining_quantity check alone catches it too. Method: fewer users than coupons,
// so issued = users who asked holds, but remaining is one short.
TEST_F(ecom_load, remaining_quantity_off_by_one_is_a_fail) {
  int64_t campaign_id = create_campaign(30);
  issue_to_outside_user(campaign_id);
  auto args = fcfs_args(10, 4);
  args.insert(args.end(), {"--campaign", std::to_string(campaign_id)});
  auto run = run_ecom_load(args);
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_TRUE(has_line_starting(run.out,
                                "invariants: FAIL remaining_quantity 19, expected "
                                "quantity - issued = 30 - 10 = 20"))
      << run.out;
}

// Goal: --json is one parseable object with the documented fields, --report a page with SVG.
TEST_F(ecom_load, json_summary_and_html_report) {
  temp_dir dir;
  std::string report = dir.path + "/report.html";
  auto args = fcfs_args(120, 6);
  args.insert(args.end(), {"--quantity", "25", "--json", "--report", report});
  auto run = run_ecom_load(args);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  auto summary = parse_json(run.out);
  for (const char* field :
       {"requests", "duration_s", "requests_per_s", "latency_us", "status_counts", "issued",
        "users_asked", "quantity", "remaining_quantity", "invariants"}) {
    EXPECT_TRUE(summary.has(field)) << field << " in " << run.out;
  }
  EXPECT_EQ(summary["requests"].as_int(), 120);
  EXPECT_EQ(summary["issued"].as_int(), 25);
  EXPECT_EQ(summary["users_asked"].as_int(), 120);
  EXPECT_EQ(summary["quantity"].as_int(), 25);
  EXPECT_EQ(summary["remaining_quantity"].as_int(), 0);
  EXPECT_EQ(summary["status_counts"]["201"].as_int(), 25);
  EXPECT_EQ(summary["status_counts"]["409"].as_int(), 95);
  for (const char* p : {"p50", "p90", "p99", "p999", "max"}) {
    EXPECT_GT(summary["latency_us"][p].as_int(), 0) << p;
  }
  EXPECT_LE(summary["latency_us"]["p50"].as_int(), summary["latency_us"]["max"].as_int());
  EXPECT_TRUE(summary["invariants"]["pass"].as_bool());
  EXPECT_EQ(summary["invariants"]["failures"].size(), 0u);
  EXPECT_EQ(last_line(run.err), "invariants: PASS") << run.err;
  std::string page = slurp(report);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("Latency histogram"), std::string::npos);
  EXPECT_NE(page.find("Throughput over time"), std::string::npos);
  EXPECT_NE(page.find("invariants: PASS"), std::string::npos);
}

std::vector<std::string> mixed_args(const std::string& url, int users, int connections) {
  return with(scenario_args("mixed", url, std::string(k_admin_token), users, connections),
              {"--products", "6", "--duration", "4"});
}

int64_t number_in(const std::string& text, const std::string& pattern) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(pattern))) return -1;
  std::string digits;
  for (char c : match[1].str()) {
    if (c != ',') digits += c;
  }
  return std::stoll(digits);
}

// Goal: a correct server passes the mixed audit, and every kind of request was sent. Method:
// 60 users shop for 4 s on 8 connections; the summary's per-operation table has traffic for
// each operation, and its payments answered 200 match the run's ORDER_PAID events.
TEST_F(ecom_load, mixed_run_passes_the_audit) {
  auto run = run_ecom_load(mixed_args(url(), 60, 8));
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(last_line(run.out), "invariants: PASS") << run.describe();
  for (const char* op :
       {"browse", "add_to_cart", "checkout", "create_order", "pay", "cancel", "remove_from_cart"}) {
    EXPECT_GT(number_in(run.out, std::string("\n") + op + " +([0-9,]+) "), 0) << op << run.out;
  }
  int64_t paid =
      number_in(run.out, "\npay +[0-9,]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +200:([0-9,]+)");
  EXPECT_GT(paid, 0) << run.out;
  EXPECT_EQ(number_in(run.out, "this run: ORDER_PAID ([0-9]+)"), paid) << run.out;
  EXPECT_TRUE(has_line_starting(run.out, "orders: ")) << run.out;
  EXPECT_TRUE(has_line_starting(run.out, "audit: 60 users")) << run.out;
}

// Goal: --json for mixed is one object with per-operation figures and the verdict.
TEST_F(ecom_load, mixed_json_summary) {
  auto args = mixed_args(url(), 30, 4);
  args.push_back("--json");
  auto run = run_ecom_load(args);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  auto summary = parse_json(run.out);
  EXPECT_EQ(summary["scenario"].as_string(), "mixed");
  EXPECT_EQ(summary["users"].as_int(), 30);
  EXPECT_GT(summary["requests"].as_int(), 0);
  for (const char* op : {"browse", "add_to_cart", "checkout", "create_order", "pay", "cancel",
                         "popular", "remove_from_cart"}) {
    EXPECT_TRUE(summary["operations"].has(op)) << op;
    EXPECT_TRUE(summary["operations"][op].has("latency_us")) << op;
  }
  EXPECT_GT(summary["operations"]["pay"]["requests"].as_int(), 0);
  EXPECT_TRUE(summary["invariants"]["pass"].as_bool()) << run.out;
  EXPECT_EQ(last_line(run.err), "invariants: PASS") << run.err;
}

// Goal: with --read-url the GETs go to the read server and the summary reports them, and a
// server that sends no X-Ecomd-Lsn (this one does not replicate) still passes. Method: the
// server itself as --read-url (its reads then go over their own connections); mixed with
// --json, then fcfs in text.
TEST_F(ecom_load, read_url_takes_the_reads_and_reports_them) {
  auto args = mixed_args(url(), 30, 4);
  args.insert(args.end(), {"--read-url", url(), "--json"});
  auto run = run_ecom_load(args);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  auto summary = parse_json(run.out);
  EXPECT_TRUE(summary["invariants"]["pass"].as_bool()) << run.out;
  ASSERT_TRUE(summary.has("replication")) << run.out;
  auto replication = summary["replication"];
  EXPECT_EQ(replication["read_urls"][0].as_string(), url());
  EXPECT_GT(replication["reads_to_standbys"].as_int(), 0);
  EXPECT_EQ(replication["reads_to_primary"].as_int(), 0);
  auto standby = replication["standbys"][0];
  EXPECT_EQ(standby["answers"].as_int(), replication["reads_to_standbys"].as_int());
  EXPECT_EQ(standby["replica_behind"].as_int(), 0);
  if (replication["primary_lsn_max"].is_null()) {
    EXPECT_EQ(standby["lag_samples"].as_int(), 0);
    EXPECT_TRUE(standby["lag_records"].is_null());
  }
  EXPECT_GT(summary["operations"]["order_read"]["requests"].as_int(), 0);
  EXPECT_GT(replication["read_your_writes"]["checked"].as_int(), 0);
  EXPECT_EQ(replication["read_your_writes"]["stale"].as_int(), 0);
  EXPECT_NE(run.err.find("replicas: " + url() + " ready"), std::string::npos) << run.err;

  auto fcfs = fcfs_args(200, 8);
  fcfs.insert(fcfs.end(), {"--read-url", url()});
  auto issued = run_ecom_load(fcfs);
  ASSERT_EQ(issued.exit_code, 0) << issued.describe();
  EXPECT_EQ(last_line(issued.out), "invariants: PASS") << issued.describe();
  EXPECT_TRUE(has_line_starting(issued.out, "reads: ")) << issued.out;
  EXPECT_TRUE(has_line_starting(issued.out, url() + " ")) << issued.out;
}

// Goal: misuse exits 2 with a message naming the problem, before any request is sent.
TEST_F(ecom_load, bad_arguments_exit_2_with_a_message) {
  struct misuse {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<misuse> cases{
      {{"fcfs", "--admin-token", "t"}, "missing --url"},
      {{"fcfs", "--url", url(), "--admin-token", "t", "--users", "0"}, "--users must be in"},
      {{"fcfs", "--url", url(), "--admin-token", "t", "--frobnicate"}, "frobnicate"},
      {{"fcfs", "--url", "http://192.0.2.1:8080", "--admin-token", "t"}, "not loopback"},
      {{"fcfs", "--url", "https://127.0.0.1:1", "--admin-token", "t"}, "TLS"},
      {{"--url", url(), "--admin-token", "t"}, "missing scenario"},
      {{"mixed", "--url", url(), "--admin-token", "t", "--quantity", "3"},
       "--quantity belongs to the fcfs scenario"},
      {{"fcfs", "--url", url(), "--admin-token", "t", "--products", "3"},
       "--products belongs to the mixed scenario"},
      {{"mixed", "--url", url(), "--admin-token", "t", "--coupon-share", "2"},
       "--coupon-share must be in"},
      {{"mixed", "--url", url(), "--admin-token", "t", "--read-url", "https://127.0.0.1:1"},
       "--read-url https://127.0.0.1:1: TLS"},
  };
  for (const auto& c : cases) {
    auto run = run_ecom_load(c.args, std::chrono::seconds(20));
    EXPECT_EQ(run.exit_code, 2) << c.message << "\n" << run.describe();
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.describe();
  }
}

// Goal: a server that is not there, or refuses the admin token, exits 3 naming the URL.
TEST_F(ecom_load, unreachable_server_or_setup_failure_exits_3) {
  std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  auto run = run_ecom_load({"fcfs", "--url", dead, "--admin-token", "t"}, std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 3) << run.describe();
  EXPECT_NE(run.err.find("cannot reach " + dead), std::string::npos) << run.describe();
  EXPECT_NE(run.err.find("refused"), std::string::npos) << run.describe();

  auto wrong_token = run_ecom_load({"fcfs", "--url", url(), "--admin-token", "not-the-token"});
  EXPECT_EQ(wrong_token.exit_code, 3) << wrong_token.describe();
  EXPECT_NE(wrong_token.err.find("401"), std::string::npos) << wrong_token.describe();
  EXPECT_NE(wrong_token.err.find("--admin-token"), std::string::npos) << wrong_token.describe();

  auto no_campaign =
      run_ecom_load({"fcfs", "--url", url(), "--admin-token", admin(), "--campaign", "999999"});
  EXPECT_EQ(no_campaign.exit_code, 3) << no_campaign.describe();
  EXPECT_NE(no_campaign.err.find("404"), std::string::npos) << no_campaign.describe();
}

}  // namespace
}  // namespace ecom::test
