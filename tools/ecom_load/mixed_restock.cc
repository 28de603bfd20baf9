#include "tools/ecom_load/mixed_restock.h"

#include <string>

namespace ecom::load::mixed_detail {

bool restock_script::produce(http_request& request) {
  if (stopping()) return false;
  const auto& products = shared_.catalog.products;
  const product_info& product = products[rng_() % products.size()];
  const combination_info& c = product.combinations[rng_() % product.combinations.size()];
  combination_ = c.id;
  delta_ = rng_() % 5 == 0 ? -1 - static_cast<std::int64_t>(rng_() % 5)
                           : 1 + static_cast<std::int64_t>(rng_() % 20);
  request.method = http_method::post;
  request.target = "/admin/products/" + std::to_string(product.id) + "/combinations/" +
                   std::to_string(c.id) + "/stock";
  request.body = "{\"delta\":" + std::to_string(delta_) + "}";
  request.bearer_token = shared_.options.admin_token;
  request.body_limit_bytes = answer_body_bytes_max;
  return true;
}

void restock_script::observe(const http_request&, const http_reply& reply) {
  record_reply(shared_, mixed_op::restock, reply);
}

std::chrono::milliseconds restock_script::consume(const http_request&, http_reply& reply,
                                                  bool earlier) {
  // The stock route takes no Idempotency-Key: after a lost answer, the attempt that got no
  // answer may have been applied besides the one answered, so the combination is unknown.
  if (earlier || reply.status == 0) {
    uncertain[combination_] = true;
  } else if (reply.status == 200) {
    restocks[combination_] += delta_;
  }
  return restock_interval;
}

}  // namespace ecom::load::mixed_detail
