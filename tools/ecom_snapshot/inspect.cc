// inspect: what a data dir holds (snapshots, WAL, whether a server holds it), read-only.
#include <iostream>

#include "persistence/data_dir.h"
#include "persistence/snapshot_store.h"
#include "tools/ecom_snapshot/commands.h"

namespace ecom::snapshot_tool {

namespace {

const char* state_name(persistence::snapshot_state state) {
  switch (state) {
    case persistence::snapshot_state::ok:
      return "ok";
    case persistence::snapshot_state::incomplete:
      return "incomplete";
    case persistence::snapshot_state::damaged:
      return "damaged";
  }
  return "damaged";
}

}  // namespace

int run_inspect(const options& o) {
  require_data_dir(o.dir);
  const std::uint32_t shards = persistence::stored_shard_count(o.dir);
  const std::optional<long> holder = persistence::lock_holder(o.dir);
  std::vector<persistence::snapshot_check> snapshots;
  for (const auto& dir : persistence::generation_dirs(o.dir / "snapshots"))
    snapshots.push_back(persistence::read_snapshot_meta(dir));
  wal_scan scan = scan_wal(o.dir / "wal", {}, nullptr);
  const bool in_progress = holder.has_value() && scan.torn_tail;
  bool problem = !scan.corruption.empty();
  for (const auto& s : snapshots) problem |= s.state == persistence::snapshot_state::damaged;

  if (o.json) {
    json j;
    j.begin_object().key("shard_count").value(static_cast<std::uint64_t>(shards));
    j.key("snapshots").begin_array();
    for (const auto& s : snapshots) {
      j.begin_object();
      j.key("name").value(s.info.dir.filename().string());
      j.key("state").value(state_name(s.state));
      if (s.state != persistence::snapshot_state::ok) {
        j.key("problem").value(s.problem);
      } else {
        j.key("lsn").value(s.info.lsn);
        j.key("created_at").value(rfc3339(s.info.created_at));
        j.key("bytes").value(s.info.bytes);
        j.key("shard_count").value(static_cast<std::uint64_t>(s.info.shards.size()));
        j.key("counts").begin_object();
        j.key("users").value(s.info.counts.users).key("products").value(s.info.counts.products);
        j.key("campaigns").value(s.info.counts.campaigns);
        j.key("user_coupons").value(s.info.counts.user_coupons);
        j.key("orders").value(s.info.counts.orders).end_object();
        j.key("cuts").begin_array();
        for (const auto& shard : s.info.shards) j.value(shard.cut);
        j.end_array();
      }
      j.end_object();
    }
    j.end_array();
    j.key("wal").begin_object();
    j.key("first_lsn").value(scan.first_lsn).key("last_lsn").value(scan.last_lsn);
    j.key("segments").value(scan.segments).key("bytes").value(scan.bytes);
    j.key("records").value(scan.records);
    j.key("torn_tail").value(scan.torn_tail && !in_progress);
    j.key("write_in_progress").value(in_progress);
    j.key("corruption");
    if (scan.corruption.empty()) {
      j.null();
    } else {
      j.value(scan.corruption);
    }
    j.end_object();
    j.key("in_use").value(holder.has_value());
    j.key("holder_pid");
    if (holder && *holder > 0) {
      j.value(static_cast<std::int64_t>(*holder));
    } else {
      j.null();
    }
    j.end_object();
    std::cout << j.str() << "\n";
    return problem ? exit_problem : exit_ok;
  }

  std::cout << o.dir.string() << ": " << shards << " shards"
            << (holder
                    ? ", in use by ecomd" +
                          (*holder > 0 ? " (pid " + std::to_string(*holder) + ")" : std::string())
                    : ", not in use")
            << "\n";
  std::cout << "snapshots: " << (snapshots.empty() ? "none" : "") << "\n";
  for (const auto& s : snapshots) {
    std::cout << "  " << s.info.dir.filename().string() << "  ";
    if (s.state != persistence::snapshot_state::ok) {
      std::cout << state_name(s.state) << ": " << s.problem << "\n";
      continue;
    }
    std::cout << "lsn " << s.info.lsn << ", " << rfc3339(s.info.created_at) << ", " << s.info.bytes
              << " bytes, " << s.info.shards.size() << " shards; " << s.info.counts.users
              << " users, " << s.info.counts.products << " products, " << s.info.counts.campaigns
              << " campaigns, " << s.info.counts.user_coupons << " user coupons, "
              << s.info.counts.orders << " orders\n";
  }
  std::cout << "wal: lsn " << scan.first_lsn << ".." << scan.last_lsn << ", " << scan.records
            << " records in " << scan.segments << " segments, " << scan.bytes << " bytes";
  if (!scan.corruption.empty()) {
    std::cout << "; CORRUPTION: " << scan.corruption;
  } else if (in_progress) {
    std::cout << "; the last frame is being written";
  } else if (scan.torn_tail) {
    std::cout << "; torn tail: " << scan.tail_message;
  }
  std::cout << "\n";
  return problem ? exit_problem : exit_ok;
}

}  // namespace ecom::snapshot_tool
