// ecom-snapshot: the operators' tool for a data dir's snapshots and WAL (OPERATIONS.md §2).
//
//   ecom-snapshot inspect DIR [--json]
//   ecom-snapshot verify  DIR [--json]
//   ecom-snapshot backup  DIR --out OUT [--url URL --admin-token T] [--json]
//   ecom-snapshot restore SRC --to DEST [--to-lsn N | --to-time RFC3339] [--json]
//   ecom-snapshot wal check  DIR [--json]
//   ecom-snapshot wal repair DIR [--truncate-corrupt]
//   ecom-snapshot wal dump   DIR [--from-lsn N] [--limit K]
//
// Exit status: 0 all good, 1 a problem found, 2 could not or would not run (one line on stderr
// says why). Links engine/ and persistence/ only.
#include <boost/program_options.hpp>

#include <iostream>

#include "tools/ecom_snapshot/commands.h"

namespace po = boost::program_options;
using namespace ecom::snapshot_tool;

namespace {

constexpr const char* usage =
    "usage:\n"
    "  ecom-snapshot inspect DIR [--json]\n"
    "  ecom-snapshot verify  DIR [--json]\n"
    "  ecom-snapshot backup  DIR --out OUT [--url URL --admin-token T] [--json]\n"
    "  ecom-snapshot restore SRC --to DEST [--to-lsn N | --to-time RFC3339] [--json]\n"
    "  ecom-snapshot wal check  DIR [--json]\n"
    "  ecom-snapshot wal repair DIR [--truncate-corrupt]\n"
    "  ecom-snapshot wal dump   DIR [--from-lsn N] [--limit K]\n"
    "exit status: 0 all good, 1 a problem found, 2 could not or would not run\n";

// The flags a subcommand takes; anything else is a refusal.
int run(const std::string& command, int argc, char** argv) {
  options o;
  std::string to_time;
  std::uint64_t to_lsn = 0;
  po::options_description flags;
  flags.add_options()("dir", po::value<std::string>(), "");
  if (command != "wal repair" && command != "wal dump") flags.add_options()("json", "");
  if (command == "backup") {
    flags.add_options()("out", po::value<std::string>(), "")("url", po::value(&o.url), "")(
        "admin-token", po::value(&o.admin_token), "");
  }
  if (command == "restore") {
    flags.add_options()("to", po::value<std::string>(), "")("to-lsn", po::value(&to_lsn), "")(
        "to-time", po::value(&to_time), "");
  }
  if (command == "wal repair") flags.add_options()("truncate-corrupt", "");
  if (command == "wal dump") {
    flags.add_options()("from-lsn", po::value(&o.from_lsn), "")("limit", po::value(&o.limit), "");
  }
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).positional(positional).run(),
              values);
    po::notify(values);
  } catch (const std::exception& e) {
    throw refusal(command + ": " + e.what());
  }
  if (!values.count("dir")) throw refusal(command + ": DIR is required");
  o.dir = values["dir"].as<std::string>();
  o.json = values.count("json") > 0;
  o.truncate_corrupt = values.count("truncate-corrupt") > 0;
  if (values.count("out")) o.out = values["out"].as<std::string>();
  if (values.count("to")) o.out = values["to"].as<std::string>();
  if (values.count("to-lsn")) o.to_lsn = to_lsn;
  if (values.count("to-time")) {
    o.to_time = parse_rfc3339(to_time);
    if (!o.to_time) throw refusal("--to-time " + to_time + " is not an RFC 3339 time");
  }
  if (command == "inspect") return run_inspect(o);
  if (command == "verify") return run_verify(o);
  if (command == "backup") return run_backup(o);
  if (command == "restore") return run_restore(o);
  if (command == "wal check") return run_wal_check(o);
  if (command == "wal repair") return run_wal_repair(o);
  return run_wal_dump(o);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    (argc < 2 ? std::cerr : std::cout) << usage;
    return argc < 2 ? exit_refused : exit_ok;
  }
  std::string command = argv[1];
  int skip = 2;
  if (command == "wal") {
    const std::string sub = argc > 2 ? argv[2] : "";
    if (sub != "check" && sub != "repair" && sub != "dump") {
      std::cerr << "ecom-snapshot: wal needs check, repair or dump\n" << usage;
      return exit_refused;
    }
    command += " " + sub;
    skip = 3;
  } else if (command != "inspect" && command != "verify" && command != "backup" &&
             command != "restore") {
    std::cerr << "ecom-snapshot: unknown command " << command << "\n" << usage;
    return exit_refused;
  }
  try {
    return run(command, argc - skip + 1, argv + skip - 1);
  } catch (const refusal& e) {
    std::cerr << "ecom-snapshot: " << e.what() << "\n";
    return exit_refused;
  } catch (const std::exception& e) {
    std::cerr << "ecom-snapshot: " << e.what() << "\n";
    return exit_problem;
  }
}
