// samsa compact: one pass of the Cleaner (Kafka's log compaction) over a log directory, and
// what it did.
#include <fmt/format.h>

#include <chrono>
#include <limits>

#include "cli.h"
#include "samsa/cleaner.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa compact DIR [FLAGS]

Cleans the log in DIR once, as Kafka's log cleaner does: of the records below the first
uncleanable offset (the active segment, segments younger than --min-compaction-lag-ms and
--upper-bound are not touched), only the latest record of each key stays; records without
a key go; a tombstone (a null value) stays for --delete-retention-ms after the first pass
that kept it, then goes. Offsets never change: a read of a removed offset gets the next
record. Prints what the pass did. The log is opened with --cleanup-policy compact unless
the flag says otherwise (it must include compact).

  --if-needed            clean only when the log needs it, as a cleaner thread would
                         (dirty ratio above --min-cleanable-dirty-ratio, or
                         --max-compaction-lag-ms passed); otherwise say why not
  --upper-bound OFFSET   nothing from this offset's segment on is cleaned (a high
                         watermark)
  --offset-map-bytes N   memory of the offset map (default 128 MiB); a map too small for
                         the dirty part cleans part of it (run compact again for the rest)

)";

struct CompactSettings {
  std::string dir;
  LogConfig config;
  CleanerConfig cleaner;
  std::optional<Offset> upper_bound;
  bool if_needed = false;
};

Status parse_settings(const ParsedArgs& args, CompactSettings& s) {
  SAMSA_TRY_ASSIGN(s.dir, single_dir(args));
  s.config.cleanup_policy = CleanupPolicy{.delete_old = false, .compact = true};
  SAMSA_TRY(apply_log_config_flags(args, s.config));
  if (!s.config.cleanup_policy.compact) {
    return Status::invalid_argument(
        fmt::format("--cleanup-policy {}: compact needs a policy that includes compact",
                    s.config.cleanup_policy.to_string()));
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (args.has("--upper-bound")) {
    std::int64_t bound = 0;
    SAMSA_TRY(int_flag(args, "--upper-bound", 0, kMax, bound));
    s.upper_bound = Offset(bound);
  }
  SAMSA_TRY(typed_int_flag(args, "--offset-map-bytes", 24, kMax, s.cleaner.offset_map_bytes));
  s.if_needed = args.has("--if-needed");
  return Status();
}

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

void print_range(const CleanableRange& r) {
  fmt::print("  first dirty offset: {}\n", r.first_dirty_offset.value());
  fmt::print("  first uncleanable offset: {}\n", r.first_uncleanable_offset.value());
  fmt::print("  dirty ratio: {:.3f} ({} dirty of {} bytes){}\n", r.dirty_ratio, r.cleanable_bytes,
             r.clean_bytes + r.cleanable_bytes,
             r.max_lag_exceeded ? "; max compaction lag passed" : "");
}

void print_result(const std::string& dir, const CleanResult& result) {
  const CleanerStats& s = result.stats;
  fmt::print("compacted {}\n", dir);
  print_range(result.range);
  if (!result.cleaned) {
    fmt::print("  nothing to clean: no segment lies below the first uncleanable offset\n");
    return;
  }
  fmt::print("  cleaned up to offset: {}{}\n", result.cleaned_up_to.value(),
             s.map_full ? " (the offset map filled: run compact again for the rest)" : "");
  fmt::print("  records: {} read, {} kept, {} removed ({} tombstones, {} without a key)\n",
             s.records_read, s.records_kept, s.records_removed, s.tombstones_removed,
             s.keyless_removed);
  fmt::print("  batches: {} copied, {} rewritten, {} removed, {} kept empty\n", s.batches_copied,
             s.batches_rewritten, s.batches_removed, s.empty_batches_kept);
  fmt::print("  segments: {} cleaned into {}\n", s.segments_cleaned, s.segments_written);
  fmt::print("  bytes: {} read ({} building the offset map), {} written\n", s.bytes_read,
             s.map_bytes_read, s.bytes_written);
  fmt::print("  offset map: {} keys of {} records in {} slots ({:.2f}% full)\n", s.map_entries,
             s.map_records, s.map_slots, 100.0 * s.map_fill);
  const double seconds = static_cast<double>(s.elapsed.count()) / 1e9;
  fmt::print(
      "  elapsed: {:.1f} ms ({:.1f} ms building the offset map), {:.1f} MB/s of input\n",
      ms(s.elapsed), ms(s.map_elapsed),
      seconds > 0 ? static_cast<double>(s.bytes_read - s.map_bytes_read) / 1e6 / seconds : 0.0);
}

// One pass, or with --if-needed none when the log does not need it.
Status compact(Log& log, const CompactSettings& settings) {
  Cleaner cleaner(settings.cleaner);
  if (settings.if_needed) {
    SAMSA_TRY_ASSIGN(const CleanableRange range,
                     cleaner.cleanable_range(log, settings.upper_bound));
    if (!range.needs_cleaning) {
      fmt::print("compact {}: not needed\n", settings.dir);
      print_range(range);
      return Status();
    }
  }
  SAMSA_TRY_ASSIGN(const CleanResult result, cleaner.clean(log, settings.upper_bound));
  print_result(settings.dir, result);
  return Status();
}

}  // namespace

int run_compact(std::span<char* const> argv) {
  std::vector<FlagSpec> specs = kLogConfigFlags;
  specs.insert(specs.end(),
               {{"--if-needed", false}, {"--upper-bound", true}, {"--offset-map-bytes", true}});
  auto args = parse_args(argv, specs);
  if (!args.ok()) return usage_error("compact", args.status().message());
  if (args->help) {
    fmt::print("{}{}", kHelp, kLogConfigHelp);
    return kExitOk;
  }
  CompactSettings settings;
  if (Status s = parse_settings(*args, settings); !s.ok()) {
    return usage_error("compact", s.message());
  }
  if (Status s = require_dir(settings.dir); !s.ok()) return failure("compact", s.to_string());
  auto log = open_log(settings.dir, settings.config);
  if (!log.ok()) return failure("compact", log.status().to_string());
  Status status = compact(**log, settings);
  std::fflush(stdout);
  const Status closed = (*log)->close();
  if (status.ok()) status = closed;
  if (!status.ok()) return failure("compact", status.to_string());
  return kExitOk;
}

}  // namespace samsa::cli
