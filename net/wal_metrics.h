// wal_metrics: the WAL writer's figures as /metrics (Prometheus text) and /admin/stats (JSON)
// show them. Part of the ecomd binary, the one piece of net/ that reads persistence/.
#pragma once

#include <string>

#include "persistence/wal_writer.h"

namespace ecom::net {

void render_wal_metrics(const persistence::wal_stats& wal, std::string& out);
void render_wal_stats_json(const persistence::wal_stats& wal, std::string& out);

}  // namespace ecom::net
