// verify: offline and read-only. Checksums of every snapshot and WAL frame (and a backup's
// manifest), then the state rebuilt from the newest snapshot plus the WAL after it: compared
// entity by entity with a full replay where the log reaches back to LSN 1, and checked against
// the invariants once recovery's flow steps ran on it (in memory: nothing is written).
#include <simdjson.h>

#include <iostream>
#include <unordered_map>

#include "engine/flow_recovery.h"
#include "engine/shard_set.h"
#include "engine/snapshot.h"
#include "persistence/data_dir.h"
#include "persistence/memory_journal.h"
#include "persistence/recovery.h"
#include "persistence/snapshot_store.h"
#include "tools/ecom_snapshot/commands.h"

namespace ecom::snapshot_tool {

namespace {

struct findings {
  std::vector<std::string> problems;
  std::vector<std::string> notes;
};

void check_manifest(const fs::path& dir, findings& found) {
  const fs::path path = dir / "backup_manifest.json";
  if (!fs::exists(path)) return;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.load(path.string()).get(doc) != simdjson::SUCCESS) {
    found.problems.push_back("backup_manifest.json does not parse");
    return;
  }
  simdjson::dom::array files;
  if (doc["files"].get(files) != simdjson::SUCCESS) {
    found.problems.push_back("backup_manifest.json has no files list");
    return;
  }
  for (auto file : files) {
    std::string_view name;
    std::uint64_t bytes = 0, crc = 0;
    if (file["path"].get(name) != simdjson::SUCCESS ||
        file["bytes"].get(bytes) != simdjson::SUCCESS ||
        file["crc32c"].get(crc) != simdjson::SUCCESS) {
      found.problems.push_back("backup_manifest.json: a file entry lacks path, bytes or crc32c");
      continue;
    }
    const fs::path copy = dir / std::string(name);
    std::error_code ec;
    if (!fs::exists(copy, ec)) {
      found.problems.push_back("manifest file " + std::string(name) + " is missing");
    } else if (fs::file_size(copy) != bytes) {
      found.problems.push_back("manifest file " + std::string(name) + " has " +
                               std::to_string(fs::file_size(copy)) + " bytes, the manifest says " +
                               std::to_string(bytes));
    } else if (file_crc32c(copy) != crc) {
      found.problems.push_back("manifest file " + std::string(name) + " fails its CRC-32C");
    }
  }
}

std::string describe_entity(engine::shard_index shard, std::string_view key) {
  auto k = engine::snapshot_key::parse(key);
  if (!k) return "shard " + std::to_string(shard) + " <malformed key>";
  return "shard " + std::to_string(shard) + " entity (table " +
         std::to_string(static_cast<int>(k->table())) + ", " + std::to_string(k->a()) + ", " +
         std::to_string(k->b()) + ")";
}

std::map<std::string, std::string> entities(std::string_view bytes) {
  std::map<std::string, std::string> out;
  engine::for_each_captured(bytes, [&](std::string_view k, std::string_view v) {
    out.emplace(std::string(k), std::string(v));
  });
  return out;
}

// Snapshot + tail against a full replay, entity by entity. Time-based forgetting (kept answers
// past their 24 h, popularity past its window) is not in the log: both forget up to `now` first.
void compare(engine::shard_set& from_snapshot, engine::shard_set& full, engine::time_ms now,
             findings& found) {
  std::size_t differences = 0;
  for (engine::shard_index i = 0; i < from_snapshot.size(); ++i) {
    for (engine::shard_set* set : {&from_snapshot, &full}) {
      set->at(i).state_for_load().keys.sweep(now);
      set->at(i).state_for_load().sales.prune(now);
    }
    const std::string a = from_snapshot.at(i).state_for_load().save();
    const std::string b = full.at(i).state_for_load().save();
    if (a == b) continue;
    auto ea = entities(a), eb = entities(b);
    for (const auto& [key, value] : eb) {
      auto it = ea.find(key);
      if (it != ea.end() && it->second == value) continue;
      if (differences++ < 20) {
        found.problems.push_back(describe_entity(i, key) +
                                 (it == ea.end() ? " is missing from" : " differs in") +
                                 " the snapshot + tail (a full replay has it)");
      }
    }
    for (const auto& [key, value] : ea) {
      if (!eb.contains(key) && differences++ < 20)
        found.problems.push_back(describe_entity(i, key) +
                                 " is in the snapshot + tail but not in a full replay");
    }
  }
  if (differences > 20)
    found.problems.push_back(std::to_string(differences - 20) + " more entities differ");
}

// Every campaign's issued units were delivered: as many wallet coupons of it, over all shards.
void check_campaigns_against_wallets(engine::shard_set& shards, findings& found) {
  std::unordered_map<engine::entity_id, std::uint64_t> issued, held;
  for (engine::shard_index i = 0; i < shards.size(); ++i) {
    for (const auto& unit : shards.at(i).state().campaigns.taken_units())
      ++issued[unit.coupon.campaign_id];
    for (const auto& [campaign, count] : shards.at(i).state().wallets.coupons_by_campaign())
      held[campaign] += count;
  }
  for (const auto& [campaign, count] : issued) {
    if (held[campaign] != count) {
      found.problems.push_back("campaign " + std::to_string(campaign) + " issued " +
                               std::to_string(count) + " coupons, wallets hold " +
                               std::to_string(held[campaign]));
    }
  }
  for (const auto& [campaign, count] : held) {
    if (!issued.contains(campaign))
      found.problems.push_back("wallets hold " + std::to_string(count) + " coupons of campaign " +
                               std::to_string(campaign) + ", which issued none");
  }
}

}  // namespace

int run_verify(const options& o) {
  require_data_dir(o.dir);
  refuse_if_in_use(o.dir, "verify");
  persistence::dir_lock lock(o.dir);
  const auto started = std::chrono::steady_clock::now();
  const std::uint32_t shard_count = persistence::stored_shard_count(o.dir);
  const std::vector<fs::path> archive = archive_of(o.dir);
  findings found;

  // 1. Checksums: every snapshot generation, every WAL frame, a backup's manifest.
  for (const auto& generation : persistence::generation_dirs(o.dir / "snapshots")) {
    persistence::snapshot_check check = persistence::read_snapshot(generation, nullptr);
    const std::string name = generation.filename().string();
    if (check.state == persistence::snapshot_state::incomplete) {
      found.notes.push_back("snapshot " + name + " is incomplete (" + check.problem +
                            "); the server removes it at its next start");
    } else if (check.state == persistence::snapshot_state::damaged) {
      found.problems.push_back("snapshot " + name + " is damaged: " + check.problem);
    }
  }
  check_manifest(o.dir, found);
  progress checking("checking WAL", 0, "B", !o.json);
  wal_scan scan = scan_wal(o.dir / "wal", archive, nullptr, 0, &checking);
  checking.finish();
  if (!scan.corruption.empty()) found.problems.push_back("WAL corruption: " + scan.corruption);
  if (scan.torn_tail)
    found.notes.push_back("WAL " + scan.tail_message +
                          " (what a crash leaves; recovery truncates it)");

  // 2. The state: newest good snapshot + the WAL after it.
  std::uint64_t replayed = 0;
  bool compared = false;
  engine::lsn_t snapshot_lsn = 0;
  if (scan.corruption.empty()) {
    const engine::time_ms now = wall_clock_ms();
    engine::shard_set state(shard_count, engine::mailbox_depth_max_default, [now] { return now; });
    persistence::recovery_report report;
    persistence::load_options load;
    load.read_only = true;
    load.older_wal_dirs = archive;
    try {
      persistence::loaded_state loaded = persistence::load_state(o.dir, state, load, report);
      replayed = report.records_replayed;
      snapshot_lsn = report.snapshot_lsn;
      for (const auto& skipped : report.snapshots_skipped)
        found.notes.push_back("recovery would pass over snapshot " + skipped);
      // 3. Against a full replay, where the log (or the archive) reaches back to LSN 1.
      if (loaded.snapshot && scan.first_lsn == 1) {
        engine::shard_set full(shard_count, engine::mailbox_depth_max_default,
                               [now] { return now; });
        persistence::recovery_report full_report;
        persistence::load_options everything = load;
        everything.use_snapshot = false;
        persistence::load_state(o.dir, full, everything, full_report);
        compare(state, full, now, found);
        compared = true;
        replayed += full_report.records_replayed;
      } else if (loaded.snapshot) {
        found.notes.push_back("the WAL starts at lsn " + std::to_string(scan.first_lsn) +
                              ": no full replay to compare the snapshot with");
      }
      // 4. Invariants: each shard's own, then (after recovery's flow steps, in memory) the
      // ones across shards.
      bool shard_invariants_hold = true;
      for (engine::shard_index i = 0; i < state.size(); ++i) {
        for (const auto& broken : state.at(i).state().check_invariants()) {
          found.problems.push_back("shard " + std::to_string(i) + ": " + broken);
          shard_invariants_hold = false;
        }
      }
      if (shard_invariants_hold) {
        persistence::memory_journal journal(
            std::max(loaded.wal.last_lsn, loaded.snapshot ? loaded.snapshot->max_cut() : 0));
        engine::flow_recovery_plan plan = engine::plan_flow_recovery(state);
        state.start(journal);
        engine::run_flow_recovery(state, std::move(plan));
        state.stop();
        check_campaigns_against_wallets(state, found);
      }
    } catch (const std::exception& e) {
      found.problems.push_back(std::string("the state does not rebuild: ") + e.what());
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool ok = found.problems.empty();
  if (o.json) {
    json j;
    j.begin_object().key("ok").value(ok).key("problems").begin_array();
    for (const auto& p : found.problems) j.value(p);
    j.end_array().key("notes").begin_array();
    for (const auto& n : found.notes) j.value(n);
    j.end_array();
    j.key("snapshot_lsn").value(snapshot_lsn);
    j.key("wal").begin_object().key("first_lsn").value(scan.first_lsn);
    j.key("last_lsn").value(scan.last_lsn).key("records").value(scan.records).end_object();
    j.key("records_replayed").value(replayed);
    j.key("compared_with_full_replay").value(compared);
    j.key("seconds").value(static_cast<std::uint64_t>(seconds * 1000) / 1000);
    j.key("records_per_s")
        .value(
            static_cast<std::uint64_t>(seconds > 0 ? static_cast<double>(replayed) / seconds : 0));
    j.end_object();
    std::cout << j.str() << "\n";
  } else {
    for (const auto& n : found.notes) std::cout << "note: " << n << "\n";
    for (const auto& p : found.problems) std::cout << "problem: " << p << "\n";
    std::cout << "checked " << scan.records << " WAL records, replayed " << replayed
              << (compared ? " (snapshot + tail, and a full replay to compare)" : "") << " in "
              << static_cast<int>(seconds * 1000) << " ms\n";
    if (ok) {
      std::cout << "verify: OK\n";
    } else {
      std::cout << "verify: FAILED (" << found.problems.size() << " problems)\n";
    }
  }
  return ok ? exit_ok : exit_problem;
}

}  // namespace ecom::snapshot_tool
