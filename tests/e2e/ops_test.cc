// Operational routes: /healthz, /readyz, /metrics, /openapi.json, and SIGTERM shutdown.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

class ops : public shared_server_test {};

// Sum of every sample of a metric family (any labels) in a Prometheus text exposition.
double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Goal: liveness answers while the process serves. Method: GET /healthz, check status, JSON
// content type and body.
TEST_F(ops, healthz_returns_200_status_ok) {
  auto response = client().get("/healthz");
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(response.header_or("Content-Type").rfind("application/json", 0), 0u);
  EXPECT_EQ(parse_json(response.body)["status"].as_string(), "ok");
}

// Goal: readiness is 200 once recovery finished. Method: the fixture already waited for it;
// ask again and check it stays 200 and is not a problem document.
TEST_F(ops, readyz_returns_200_after_recovery) {
  auto response = client().get("/readyz");
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(response.header_or("Content-Type").find("problem"), std::string::npos);
}

// Goal: /metrics is Prometheus text 0.0.4 with the documented series, and every sample line is
// well formed. Method: fetch it after some traffic, check content type, series names and the
// line grammar `name{labels} value`.
TEST_F(ops, metrics_expose_prometheus_text_with_documented_series) {
  auto s = sign_up_and_login(client(), "metrics");
  ASSERT_EQ(charge(client(), s.user_id, s.access_token, 10).status, 200);
  auto response = client().get("/metrics");
  ASSERT_EQ(response.status, 200) << describe(response);
  const std::string content_type = response.header_or("Content-Type");
  EXPECT_EQ(content_type.rfind("text/plain", 0), 0u) << content_type;
  EXPECT_NE(content_type.find("version=0.0.4"), std::string::npos) << content_type;
  for (const char* series :
       {"ecomd_http_requests_total{", "ecomd_http_request_duration_seconds_bucket{",
        "ecomd_wal_fsync_duration_seconds_bucket{", "ecomd_wal_bytes_total",
        "ecomd_wal_records_total", "ecomd_shard_mailbox_depth{shard=\"0\"}"}) {
    EXPECT_NE(response.body.find(series), std::string::npos) << "missing " << series;
  }
  EXPECT_NE(response.body.find("le=\"+Inf\""), std::string::npos) << "histograms need +Inf";
  static const std::regex sample(
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eENaInf]+( -?[0-9]+)?)");
  std::istringstream lines(response.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    EXPECT_TRUE(std::regex_match(line, sample)) << "malformed sample line: " << line;
  }
  EXPECT_GT(samples, 5);
}

// Goal: counters move with traffic. Method: read request and WAL record totals, make requests
// and a charge, read again: both sums must have grown.
TEST_F(ops, metrics_counters_grow_with_requests_and_wal_records) {
  auto s = sign_up_and_login(client(), "metrics2");
  auto before = client().get("/metrics");
  ASSERT_EQ(before.status, 200);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client().get("/healthz").status, 200);
  ASSERT_EQ(charge(client(), s.user_id, s.access_token, 7).status, 200);
  auto after = client().get("/metrics");
  ASSERT_EQ(after.status, 200);
  EXPECT_GE(metric_sum(after.body, "ecomd_http_requests_total"),
            metric_sum(before.body, "ecomd_http_requests_total") + 6);
  EXPECT_GT(metric_sum(after.body, "ecomd_wal_records_total"),
            metric_sum(before.body, "ecomd_wal_records_total"));
  EXPECT_GT(metric_sum(after.body, "ecomd_wal_bytes_total"),
            metric_sum(before.body, "ecomd_wal_bytes_total"));
}

// Goal: the OpenAPI document is 3.x and describes every route of this server. Method: parse
// /openapi.json and look up each path template and its method.
TEST_F(ops, openapi_document_describes_every_route) {
  auto response = client().get("/openapi.json");
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(response.header_or("Content-Type").rfind("application/json", 0), 0u);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["openapi"].as_string().rfind("3.", 0), 0u);
  auto paths = doc["paths"];
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/healthz", "get"},
      {"/readyz", "get"},
      {"/metrics", "get"},
      {"/openapi.json", "get"},
      {"/users", "post"},
      {"/auth/login", "post"},
      {"/auth/refresh", "post"},
      {"/auth/logout", "post"},
      {"/users/{id}", "get"},
      {"/admin/users/bulk", "post"},
      {"/users/{id}/balance", "get"},
      {"/users/{id}/balance/charge", "post"},
      {"/users/{id}/balance/history", "get"},
  };
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(paths.has(path)) << "paths lacks " << path;
    EXPECT_TRUE(paths[path].has(method)) << path << " lacks " << method;
  }
}

// Goal: /docs is Swagger UI served from the binary itself. Method: GET /docs is text/html that
// loads the bundle and the initializer from /docs/; each of its files is 200 with its type
// (the initializer points Swagger UI at /openapi.json, with no validator badge from another
// host); an unknown file is 404 problem+json. (tests/browser opens it in chromium.)
TEST_F(ops, docs_serves_swagger_ui_and_its_files_from_the_binary) {
  auto page = client().get("/docs");
  ASSERT_EQ(page.status, 200) << describe(page);
  EXPECT_EQ(page.header_or("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(page.body.find("/docs/swagger-ui-bundle.js"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/docs/swagger-initializer.js"), std::string::npos);
  struct file {
    const char* name;
    const char* type;
    std::size_t bytes_min;
  };
  for (const file& f :
       {file{"swagger-ui-bundle.js", "text/javascript", 100'000},
        file{"swagger-ui.css", "text/css", 10'000}, file{"favicon-32x32.png", "image/png", 100},
        file{"swagger-initializer.js", "text/javascript", 100}}) {
    auto answer = client().get(std::string("/docs/") + f.name);
    ASSERT_EQ(answer.status, 200) << f.name << describe(answer);
    EXPECT_EQ(answer.header_or("Content-Type").rfind(f.type, 0), 0u) << f.name;
    EXPECT_GE(answer.body.size(), f.bytes_min) << f.name;
  }
  auto initializer = client().get("/docs/swagger-initializer.js");
  EXPECT_NE(initializer.body.find("url: '/openapi.json'"), std::string::npos) << initializer.body;
  EXPECT_NE(initializer.body.find("validatorUrl: null"), std::string::npos);
  auto png = client().get("/docs/favicon-32x32.png");
  EXPECT_EQ(png.body.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto unknown = client().get("/docs/index.html");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.header_or("Content-Type").rfind("application/problem+json", 0), 0u);
  EXPECT_NE(unknown.body.find("\"NOT_FOUND\""), std::string::npos) << unknown.body;
}

// Goal: the admin token can come from ECOM_ADMIN_TOKEN. Method: own server started with the
// token only in the environment; it opens /admin/users/bulk, a different token is 401.
TEST(ops_env, admin_token_from_environment_is_accepted) {
  server_options options;
  options.admin_token = "env-admin-token-31337";
  options.admin_token_in_env = true;
  server_process server(options);
  http_client client(server.port());
  const std::string body = json_object().add("count", 2).add("name_prefix", "env").str();
  auto created = client.post_json("/admin/users/bulk", body, bearer("env-admin-token-31337"));
  EXPECT_EQ(created.status, 201) << describe(created);
  expect_unauthenticated(client.post_json("/admin/users/bulk", body, bearer(k_admin_token)));
}

// Goal: SIGTERM is a clean shutdown: exit status 0, and everything acknowledged before is
// there after a restart on the same data dir. Method: own server; sign up, charge, log in,
// SIGTERM, restart, read balance, history and the user with the old token.
// Goal: ECOM_* variables that name no flag (another tool's settings) do not stop the server,
// while ECOM_<FLAG> still sets the flag. Method: start with ECOM_UNRELATED_SETTING in the
// environment and the admin token only in ECOM_ADMIN_TOKEN; the admin route must work.
TEST(ops_environment, unrelated_ecom_variables_are_ignored_and_flags_are_read) {
  ::setenv("ECOM_UNRELATED_SETTING", "1", 1);
  server_options options;
  options.admin_token_in_env = true;
  server_process server(options);
  ::unsetenv("ECOM_UNRELATED_SETTING");
  http_client client(server.port());
  auto stats = client.get("/admin/stats", bearer(server.admin_token()));
  EXPECT_EQ(stats.status, 200) << stats.body;
}

// Goal: a timeout of 0 ms is refused at start (exit 2, one line naming the problem) instead of
// a server that cuts every connection at once. Method: start with each timeout at 0.
TEST(ops_flags, a_zero_timeout_is_refused_at_start) {
  for (const char* flag : {"--read-timeout-ms", "--idle-timeout-ms"}) {
    server_options options;
    options.extra_args = {flag, "0"};
    try {
      server_process server(options);
      ADD_FAILURE() << flag << " 0: the server started";
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("exited with status 2"), std::string::npos) << flag << ": " << what;
      EXPECT_NE(what.find("out of range"), std::string::npos) << flag << ": " << what;
    }
  }
}

TEST(ops_shutdown, sigterm_exits_0_and_acknowledged_data_survives_restart) {
  server_process server;
  http_client client(server.port());
  auto s = sign_up_and_login(client, "sigterm");
  for (int amount : {100, 250, 4000}) {
    ASSERT_EQ(charge(client, s.user_id, s.access_token, amount).status, 200);
  }
  auto history_before = fetch_history(client, s.user_id, s.access_token);
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();

  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(client.get(user_path(s.user_id), bearer(s.access_token)).status, 200);
  EXPECT_EQ(fetch_balance(client, s.user_id, s.access_token), 4350);
  auto history_after = fetch_history(client, s.user_id, s.access_token);
  ASSERT_EQ(history_after.size(), history_before.size());
  for (size_t i = 0; i < history_after.size(); ++i) {
    EXPECT_EQ(history_after[i].id, history_before[i].id);
    EXPECT_EQ(history_after[i].amount, history_before[i].amount);
    EXPECT_EQ(history_after[i].created_at, history_before[i].created_at);
  }
  EXPECT_TRUE(history_consistent(history_after, 4350));
  // Sign-up survived too: the same credentials still log in.
  auto login = client.post_json(
      "/auth/login", json_object().add("email", s.email).add("password", s.password).str());
  EXPECT_EQ(login.status, 200) << describe(login);
}

// A consumer parked on the event feed's long poll does not hold up a SIGTERM: the poll is
// answered (200, no items) at once and the server exits well within the poll's wait_ms.
TEST(ops_shutdown, sigterm_answers_parked_long_polls_at_once) {
  server_process server;
  std::promise<http_response> answered;
  auto poll = answered.get_future();
  std::thread poller([&] {
    http_client client(server.port(), std::chrono::seconds(60));
    answered.set_value(client.get("/admin/events?after=0&wait_ms=30000", bearer(k_admin_token)));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it park
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
  auto took = std::chrono::steady_clock::now() - started;
  poller.join();
  http_response response = poll.get();
  EXPECT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(response.body, R"({"items":[],"last_seq":0})");
  EXPECT_LT(took, std::chrono::seconds(5)) << "the drain waited for the parked poll";
}

}  // namespace
}  // namespace ecom::test
