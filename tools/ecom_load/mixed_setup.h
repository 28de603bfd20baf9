// Setup of the mixed scenario: products, the coupon and its FCFS campaign, users (admin API,
// blocking), then every user's balance charge and a share of coupon issues over the pool.
#pragma once

#include <string>
#include <vector>

#include "tools/ecom_load/fcfs_setup.h"
#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

struct mixed_setup_result {
  mixed_catalog catalog;
  std::vector<user_record> users;
};

// Throws setup_error (exit 3) when any step fails. key_prefix starts every Idempotency-Key.
mixed_setup_result run_mixed_setup(admin_api& api, const load_options& o, const pool_options& pool,
                                   const std::string& key_prefix);

}  // namespace ecom::load
