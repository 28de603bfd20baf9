// Which users' wallets the fcfs audit reads (pick_wallet_sample, declared in fcfs_run.h): pure,
// so it lives in ecom_load_core and is unit-tested without the transport.
#include <algorithm>

#include "tools/ecom_load/fcfs_run.h"

namespace ecom::load {

namespace {

bool definitive(issue_outcome outcome) {
  return outcome != issue_outcome::not_asked && outcome != issue_outcome::overloaded &&
         outcome != issue_outcome::uncertain;
}

}  // namespace

std::vector<std::size_t> pick_wallet_sample(const std::vector<user_result>& users,
                                            std::int64_t wallet_check_max) {
  std::vector<std::size_t> chosen, others;
  for (std::size_t i = 0; i < users.size(); ++i) {
    // Uncertain users and those asked again after a lost answer (or answered by a replay) are
    // always read: a retry must never have given two coupons. Retries after a refusal that
    // changed nothing (503, not active yet) are sampled like everyone else.
    if (users[i].outcome == issue_outcome::uncertain ||
        (users[i].outcome != issue_outcome::not_asked &&
         (users[i].answer_lost || users[i].replayed))) {
      chosen.push_back(i);
    } else if (definitive(users[i].outcome)) {
      others.push_back(i);
    }
  }
  std::size_t room = others.size();
  if (wallet_check_max >= 0) {
    auto limit = static_cast<std::size_t>(wallet_check_max);
    room = limit > chosen.size() ? std::min(limit - chosen.size(), others.size()) : 0;
  }
  // An even stride over the others: issued and sold-out users are both represented.
  for (std::size_t k = 0; k < room; ++k) chosen.push_back(others[k * others.size() / room]);
  return chosen;
}

}  // namespace ecom::load
