// Operators' routes: snapshots (OPERATIONS.md §1) and a standby's promotion (§3). The
// snapshotter and the replicator do the work on their own threads; these routes start it, list
// what it kept, and render.
#include "net/api.h"
#include "net/json_writer.h"
#include "net/problem.h"
#include "net/time_format.h"
#include "persistence/replication_port.h"
#include "persistence/snapshotter.h"

namespace ecom::net {

namespace {

void write_snapshot(json_writer& w, const persistence::snapshot_info& info) {
  w.key("lsn").value(info.lsn);
  std::string created_at;
  append_rfc3339(created_at, info.created_at);
  w.key("created_at").value(std::string_view(created_at));
  w.key("bytes").value(info.bytes);
}

}  // namespace

void api::post_admin_snapshot(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  persistence::snapshotter* snapshots = services_.snapshots.load(std::memory_order_acquire);
  if (snapshots == nullptr) return reply(request, not_ready());
  bool started = snapshots->request([this, request](const persistence::snapshot_result& result) {
    request->run_on_io([this, request, result] {
      if (result.result == persistence::snapshot_result::outcome::failed) {
        http_reply answer = make_problem_reply(
            problem{503, "SNAPSHOT_FAILED", "the snapshot was not taken: " + result.error, {}});
        answer.header("Retry-After", "1");
        return reply(request, std::move(answer));
      }
      std::string body;
      json_writer w(body);
      w.begin_object();
      write_snapshot(w, result.info);
      w.key("duration_ms").value(result.duration_ms);
      w.end_object();
      reply(request, json_reply(200, std::move(body)));
    });
  });
  if (!started) {
    http_reply answer = make_problem_reply(
        problem{409, "SNAPSHOT_IN_PROGRESS", "a snapshot is being taken; ask again shortly", {}});
    answer.header("Retry-After", "1");
    reply(request, std::move(answer));
  }
}

void api::get_admin_snapshots(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  persistence::snapshotter* snapshots = services_.snapshots.load(std::memory_order_acquire);
  if (snapshots == nullptr) return reply(request, not_ready());
  std::string body;
  json_writer w(body);
  w.begin_object().key("items").begin_array();
  for (const auto& info : snapshots->list()) {
    w.begin_object();
    write_snapshot(w, info);
    w.end_object();
  }
  w.end_array().end_object();
  reply(request, json_reply(200, std::move(body)));
}

// /admin/stats's "snapshot" (null when none) and "wal" objects.
void api::post_admin_promote(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  persistence::replication_port* replication = services_.replication;
  if (replication == nullptr || replication->role() != persistence::replication_role::standby) {
    return reply(request,
                 make_problem_reply({409,
                                     "NOT_STANDBY",
                                     "this server is not a standby (it was not started with "
                                     "--follow, or it was promoted already)",
                                     {}}));
  }
  replication->promote([this, request](persistence::promote_outcome outcome, engine::lsn_t lsn) {
    request->run_on_io([this, request, outcome, lsn] {
      switch (outcome) {
        case persistence::promote_outcome::promoted: {
          std::string body;
          json_writer w(body);
          w.begin_object().key("role").value(std::string_view("primary"));
          w.key("lsn").value(lsn).end_object();
          return reply(request, json_reply(200, std::move(body)));
        }
        case persistence::promote_outcome::not_standby:
          return reply(request,
                       make_problem_reply(
                           {409, "NOT_STANDBY", "this server is not a standby any more", {}}));
        case persistence::promote_outcome::unavailable:
          break;
      }
      reply(request, *problem_reply_of(engine::refusal(engine::errc::replication_unavailable)));
    });
  });
}

void api::render_replication_stats(json_writer& w) {
  persistence::replication_status status;
  if (services_.replication != nullptr) status = services_.replication->status();
  w.key("replication").begin_object();
  const char* role = status.role == persistence::replication_role::primary   ? "primary"
                     : status.role == persistence::replication_role::standby ? "standby"
                                                                             : "none";
  w.key("role").value(std::string_view(role));
  w.key("stream");
  if (status.role == persistence::replication_role::none) {
    w.null();
  } else {
    w.value(std::string_view(status.stream));
  }
  w.key("lsn").value(status.lsn);
  w.key("lag_records").value(status.lag_records);
  w.key("state").value(std::string_view(status.state));
  w.key("stream_seq").value(status.stream_seq);
  w.end_object();
}

void api::render_persistence_stats(json_writer& w) {
  persistence::snapshotter* snapshots = services_.snapshots.load(std::memory_order_acquire);
  persistence::snapshot_figures figures;
  if (snapshots != nullptr) figures = snapshots->figures();
  w.key("snapshot");
  if (figures.newest) {
    w.begin_object();
    write_snapshot(w, *figures.newest);
    w.key("in_progress").value(figures.in_progress);
    w.end_object();
  } else {
    w.null();
  }
  w.key("wal");
  std::string wal;
  services_.render_wal_stats(wal);
  // The folder's figures (kept by the snapshotter's thread: no file I/O here).
  wal.pop_back();  // the closing brace
  wal += ",\"first_lsn\":" + std::to_string(figures.wal_first_lsn) +
         ",\"segments\":" + std::to_string(figures.wal_segments) +
         ",\"bytes\":" + std::to_string(figures.wal_bytes) + "}";
  w.raw(wal);
}

}  // namespace ecom::net
