// End-to-end tests of the test TCP proxy (tests/support/tcp_proxy.h) in front of a real ecomd:
// it forwards unchanged, holds back the chosen connections' requests in order, cuts answers
// after the server did the work, and closes everything promptly. The flash-sale tests
// (ecom_load_sale_test.cc) rely on these rules.
#include <optional>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/tcp_proxy.h"
#include "tests/tools/ecom_load_process.h"

namespace ecom::test {
namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

class tcp_proxy_over_ecomd : public shared_server_test {};

// Goal: the proxy forwards requests and answers unchanged, keep-alive included. Method: three
// requests on one client connection through the proxy; all answered, one proxied connection.
TEST_F(tcp_proxy_over_ecomd, forwards_requests_and_answers) {
  tcp_proxy proxy(server().port());
  http_client through(proxy.port());
  for (int i = 0; i < 3; ++i) {
    auto health = through.get("/healthz");
    ASSERT_EQ(health.status, 200) << describe(health);
    EXPECT_EQ(parse_json(health.body)["status"].as_string(), "ok");
  }
  EXPECT_EQ(through.connections_opened(), 1);
  EXPECT_EQ(proxy.connections(), 1u);
  EXPECT_EQ(proxy.responses_forwarded(), 3u);
  EXPECT_EQ(proxy.cuts(), 0u);
}

// Goal: request_delay holds every client->server chunk of the chosen connections, in order,
// and no other connection. Method: connection 0 delayed 300 ms, connection 1 not; on 0 a request
// written in two chunks 30 ms apart (reordered, it would be a 400) takes >= 330 ms; the request
// on connection 1 is answered in less than the delay.
TEST_F(tcp_proxy_over_ecomd, request_delay_holds_each_chunk_in_order) {
  constexpr milliseconds delay{300};
  tcp_proxy proxy(server().port(), delay_requests([delay](size_t index) {
                    return index == 0 ? delay : milliseconds(0);
                  }));
  http_client delayed(proxy.port());
  auto started = steady::now();
  ASSERT_TRUE(delayed.write_raw("GET /heal"));
  std::this_thread::sleep_for(milliseconds(30));
  ASSERT_TRUE(delayed.write_raw("thz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto health = delayed.read_response();
  auto took = steady::now() - started;
  ASSERT_EQ(health.status, 200) << describe(health);
  EXPECT_GE(took, delay + milliseconds(30));

  http_client direct(proxy.port());
  started = steady::now();
  auto fast = direct.get("/healthz");
  took = steady::now() - started;
  ASSERT_EQ(fast.status, 200) << describe(fast);
  EXPECT_LT(took, delay);
  EXPECT_EQ(proxy.connections(), 2u);
}

// Goal: a cut answer is lost to the client although the server did the work. Method:
// cut_every_nth_response = 1; a charge through the proxy sees its connection closed (status 0,
// no retry: the connection was new), the balance read directly shows the charge, and cuts() is 1.
TEST_F(tcp_proxy_over_ecomd, cut_closes_both_sides_after_the_server_processed) {
  auto user = sign_up_and_login(client(), "proxy-cut");
  tcp_proxy proxy(server().port(), cut_answers(1));
  http_client through(proxy.port());
  auto charged = charge(through, user.user_id, user.access_token, 5000);
  EXPECT_EQ(charged.status, 0) << describe(charged);
  EXPECT_FALSE(charged.transport_error.empty());
  EXPECT_EQ(proxy.cuts(), 1u);
  EXPECT_EQ(proxy.responses_forwarded(), 0u);
  EXPECT_EQ(fetch_balance(client(), user.user_id, user.access_token), 5000);
}

// Goal: with cut_only_after_request_containing, only the answers to matching requests count
// and are cut. Method: every 2nd answer to a request naming /readyz is cut; /healthz answers
// pass untouched between them.
TEST_F(tcp_proxy_over_ecomd, cut_only_after_request_containing_counts_matching_answers) {
  tcp_proxy proxy(server().port(), cut_answers(2, "/readyz"));
  http_client through(proxy.port());
  EXPECT_EQ(through.get("/healthz").status, 200);
  EXPECT_EQ(through.get("/readyz").status, 200);  // 1st matching: forwarded
  EXPECT_EQ(through.get("/healthz").status, 200);
  http_client fresh(proxy.port());  // a new connection: the client does not retry a lost answer
  EXPECT_EQ(fresh.get("/readyz").status, 0);  // 2nd matching: cut
  EXPECT_EQ(proxy.cuts(), 1u);
  EXPECT_EQ(through.get("/healthz").status, 200);
}

// Goal: the destructor ends open connections at once, with a request still held back. Method:
// a 5 s delay, a request written, the proxy destroyed: that takes well under the delay, and the
// client then sees its connection closed.
TEST_F(tcp_proxy_over_ecomd, destructor_closes_open_connections_promptly) {
  std::optional<tcp_proxy> proxy;
  proxy.emplace(server().port(), delay_requests([](size_t) { return milliseconds(5000); }));
  http_client through(proxy->port());
  ASSERT_TRUE(through.write_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  std::this_thread::sleep_for(milliseconds(50));
  auto started = steady::now();
  proxy.reset();
  auto destroy_took = steady::now() - started;
  EXPECT_LT(destroy_took, milliseconds(2000));
  EXPECT_EQ(through.read_response().status, 0);
}

// Goal: an upstream that is not there closes the client's connection (no hang). Method: a proxy
// to a closed port; the request gets status 0 quickly.
TEST_F(tcp_proxy_over_ecomd, upstream_down_closes_the_client) {
  tcp_proxy proxy(closed_port());
  http_client through(proxy.port(), milliseconds(5000));
  auto started = steady::now();
  auto answer = through.get("/healthz");
  EXPECT_EQ(answer.status, 0) << describe(answer);
  EXPECT_LT(steady::now() - started, milliseconds(4000));
  EXPECT_GE(proxy.connections(), 1u);
}

}  // namespace
}  // namespace ecom::test
