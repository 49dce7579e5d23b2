// samsa recover: opens the log (running crash recovery), prints what recovery did and the
// resulting offsets, and closes it cleanly.
#include <fmt/format.h>

#include "cli.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa recover DIR [--truncate-corruption] [LOG FLAGS]

Opens the log in DIR as a host application would, which runs crash recovery: segments
not known to be flushed are rescanned, a torn tail is cut at the last valid batch,
missing or stale indexes are rebuilt, leftover .deleted/.cleaned/.swap files are
resolved. Prints the recovery report and the log start and end offsets, then closes the
log cleanly (a later open needs no rescan).

  --truncate-corruption   when data known to be flushed is corrupt, cut the log there
                          (losing that data and everything after it) instead of failing

)";

void print_list(std::string_view title, const std::vector<std::string>& items) {
  if (items.empty()) {
    fmt::print("  {}: none\n", title);
    return;
  }
  fmt::print("  {}:\n", title);
  for (const std::string& item : items) fmt::print("    {}\n", item);
}

void print_report(const std::string& dir, const Log& log) {
  const RecoveryReport& r = log.recovery_report();
  fmt::print("recovered {}\n", dir);
  fmt::print("  clean shutdown: {}\n", r.clean_shutdown ? "yes" : "no");
  fmt::print("  segments rescanned: {}\n", r.segments_rescanned);
  fmt::print("  bytes rescanned: {}\n", r.bytes_rescanned);
  fmt::print("  bytes truncated: {}\n", r.bytes_truncated);
  fmt::print("  segments removed: {}\n", r.segments_removed);
  fmt::print("  indexes rebuilt: {}\n", r.indexes_rebuilt);
  print_list("files resolved", r.files_resolved);
  print_list("notes", r.notes);
  fmt::print("log start offset: {}\n", log.log_start_offset().value());
  fmt::print("log end offset: {}\n", log.log_end_offset().value());
  fmt::print("segments: {}\n", log.segments().size());
  std::fflush(stdout);
}

}  // namespace

int run_recover(std::span<char* const> argv) {
  std::vector<FlagSpec> specs = kLogConfigFlags;
  specs.push_back({"--truncate-corruption", false});
  auto args = parse_args(argv, specs);
  if (!args.ok()) return usage_error("recover", args.status().message());
  if (args->help) {
    fmt::print("{}{}", kHelp, kLogConfigHelp);
    return kExitOk;
  }
  auto dir = single_dir(*args);
  if (!dir.ok()) return usage_error("recover", dir.status().message());
  LogConfig config;
  if (Status s = apply_log_config_flags(*args, config); !s.ok()) {
    return usage_error("recover", s.message());
  }
  if (Status s = require_dir(*dir); !s.ok()) return failure("recover", s.to_string());
  LogOpenOptions options;
  options.truncate_corruption = args->has("--truncate-corruption");
  auto log = open_log(*dir, config, options);
  if (!log.ok()) {
    std::string hint;
    if (log.status().is_corruption() && !options.truncate_corruption) {
      hint = " (--truncate-corruption cuts the log there, losing what follows)";
    }
    return failure("recover", log.status().to_string() + hint);
  }
  print_report(*dir, **log);
  if (Status s = (*log)->close(); !s.ok()) return failure("recover", s.to_string());
  return kExitOk;
}

}  // namespace samsa::cli
