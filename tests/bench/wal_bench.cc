// wal_bench: what group commit buys. Durable records per second through wal_writer in
// fsync_mode::always with 1, 16 and 256 writers (each thread appends one ~100-byte record and
// waits for its callback before the next, like a request waiting for its reply), against the
// baseline of one raw write(100 bytes) + fdatasync per record on the same file system.
// Files go to a fresh folder under /tmp, removed afterwards. Prints the speed-up at the end.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>

#include "persistence/wal_writer.h"

namespace {

namespace fs = std::filesystem;
using ecom::persistence::fsync_mode;
using ecom::persistence::wal_options;
using ecom::persistence::wal_writer;

constexpr std::size_t record_bytes = 100;

fs::path make_temp_dir() {
  std::string pattern = "/tmp/ecom_wal_bench_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// Shared by the benchmark threads of one run; thread 0 sets it up before the start barrier
// and tears it down after the finish barrier (Google Benchmark places both around the loop).
struct group_commit_run {
  fs::path dir;
  std::unique_ptr<wal_writer> writer;
  std::unique_ptr<std::atomic<std::uint64_t>[]> callbacks_done;  // one counter per thread
};
group_commit_run* run_state = nullptr;

void wal_group_commit(benchmark::State& state) {
  if (state.thread_index() == 0) {
    run_state = new group_commit_run;
    run_state->dir = make_temp_dir();
    wal_options options;
    options.dir = run_state->dir / "wal";
    options.mode = fsync_mode::always;
    run_state->writer = std::make_unique<wal_writer>(options);
    run_state->callbacks_done =
        std::make_unique<std::atomic<std::uint64_t>[]>(static_cast<std::size_t>(state.threads()));
  }
  ecom::engine::record record;
  record.type = ecom::engine::record_type::balance_charged;
  record.shard = static_cast<ecom::engine::shard_index>(state.thread_index() % 64);
  record.payload.assign(record_bytes, 'r');
  std::uint64_t appended = 0;
  for (auto _ : state) {
    std::atomic<std::uint64_t>& done = run_state->callbacks_done[state.thread_index()];
    ++appended;
    run_state->writer->append(std::span(&record, 1), [&done] {
      done.fetch_add(1, std::memory_order_release);
      done.notify_one();
    });
    for (std::uint64_t seen = done.load(std::memory_order_acquire); seen < appended;
         seen = done.load(std::memory_order_acquire)) {
      done.wait(seen, std::memory_order_acquire);
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    run_state->writer->stop();
    const auto stats = run_state->writer->stats();
    state.counters["records_per_fsync"] =
        static_cast<double>(stats.records_total) / static_cast<double>(stats.fsyncs_total);
    state.counters["fsync_avg_us"] =
        1e6 * stats.fsync_seconds_sum / static_cast<double>(stats.fsyncs_total);
    run_state->writer.reset();
    fs::remove_all(run_state->dir);
    delete run_state;
    run_state = nullptr;
  }
}
BENCHMARK(wal_group_commit)->Threads(1)->Threads(16)->Threads(256)->UseRealTime()->MinTime(1.0);

void raw_write_fdatasync(benchmark::State& state) {
  const fs::path dir = make_temp_dir();
  const fs::path file = dir / "raw.log";
  const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("cannot open the baseline file");
    return;
  }
  const std::string record(record_bytes, 'r');
  for (auto _ : state) {
    if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
  }
  ::close(fd);
  fs::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
  state.counters["fsyncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(raw_write_fdatasync)->UseRealTime()->MinTime(1.0);

// Prints as usual and keeps items_per_second by benchmark name for the summary.
class capturing_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates[run.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> rates;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  capturing_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  double raw_rate = 0;
  for (const auto& [name, rate] : reporter.rates) {
    if (name.starts_with("raw_write_fdatasync")) raw_rate = rate;
  }
  if (raw_rate <= 0) return 0;
  std::printf("\nraw write+fdatasync: %.0f fsyncs/s\n", raw_rate);
  for (const auto& [name, rate] : reporter.rates) {
    const std::size_t at = name.find("threads:");
    if (!name.starts_with("wal_group_commit") || at == std::string::npos) continue;
    std::printf("group commit speedup at %s writers: %.1fx raw fsync (%.0f records/s)\n",
                name.substr(at + 8).c_str(), rate / raw_rate, rate);
  }
  return 0;
}
