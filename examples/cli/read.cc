// samsa read: records to stdout as offset<TAB>timestamp<TAB>key<TAB>value, from an offset
// or a timestamp, optionally following the log as it grows.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>

#include "cli.h"
#include "samsa/record_batch.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa read DIR [FLAGS]

Prints the records of the log in DIR, one per line:
  offset<TAB>timestamp<TAB>key<TAB>value
key and value are printed as stored (raw bytes); a null key or null value prints as the
four letters `null` (so an empty key prints as an empty field, and a stored "null" cannot
be told from a null one). The timestamp is in milliseconds since the Unix epoch.

  --from OFFSET     start at this offset (default: the log start offset)
  --from-time MS    start at the first record whose timestamp is >= MS
  --max N           stop after N records
  --follow          at the log end, wait for new records (in 500 ms steps) until
                    SIGINT/SIGTERM or --max is reached
  --latest-per-key  print only the latest record of each key among those read, in
                    offset order: what log compaction keeps (a tombstone, the latest
                    record of a deleted key, prints with the value `null`; records
                    without a key are left out). Not with --follow.

read opens the log, which takes the directory's lock: while another process (e.g.
`samsa append`) has the log open, read fails with a "busy" error, and while read holds
it, no other process can append. So today --follow only waits; reading a live log that
another process appends to is a later feature.

)";

constexpr std::chrono::milliseconds kFollowStep{500};

struct ReadSettings {
  std::string dir;
  LogConfig config;
  std::optional<std::int64_t> from_offset;
  std::optional<std::int64_t> from_time_ms;
  std::int64_t max_records = std::numeric_limits<std::int64_t>::max();
  bool follow = false;
  bool latest_per_key = false;
};

Status parse_settings(const ParsedArgs& args, ReadSettings& s) {
  SAMSA_TRY_ASSIGN(s.dir, single_dir(args));
  SAMSA_TRY(apply_log_config_flags(args, s.config));
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (args.has("--from") && args.has("--from-time")) {
    return Status::invalid_argument("--from and --from-time cannot be used together");
  }
  std::int64_t v = 0;
  if (args.has("--from")) {
    SAMSA_TRY(int_flag(args, "--from", 0, kMax, v));
    s.from_offset = v;
  }
  if (args.has("--from-time")) {
    SAMSA_TRY(int_flag(args, "--from-time", 0, kMax, v));
    s.from_time_ms = v;
  }
  SAMSA_TRY(int_flag(args, "--max", 0, kMax, s.max_records));
  s.follow = args.has("--follow");
  s.latest_per_key = args.has("--latest-per-key");
  if (s.follow && s.latest_per_key) {
    return Status::invalid_argument(
        "--latest-per-key needs the end of what is read: not with --follow");
  }
  return Status();
}

// Where reading starts: nullopt when there is nothing to read (a timestamp past every
// record, without --follow).
Result<std::optional<Offset>> start_offset(const Log& log, const ReadSettings& s) {
  if (s.from_time_ms) {
    SAMSA_TRY_ASSIGN(auto found, log.offset_for_timestamp(Timestamp(*s.from_time_ms)));
    if (found) return std::optional<Offset>(found->offset);
    if (s.follow) return std::optional<Offset>(log.log_end_offset());
    return std::optional<Offset>();
  }
  if (!s.from_offset) return std::optional<Offset>(log.log_start_offset());
  const Offset from(*s.from_offset);
  if (from < log.log_start_offset()) {
    return Status::out_of_range(fmt::format("--from {} is below the log start offset {}",
                                            from.value(), log.log_start_offset().value()));
  }
  if (from > log.log_end_offset()) {
    return Status::out_of_range(fmt::format("--from {} is past the log end offset {}", from.value(),
                                            log.log_end_offset().value()));
  }
  return std::optional<Offset>(from);
}

// Walks read slices from an offset on and prints their records.
class Reader {
 public:
  Reader(const Log& log, const ReadSettings& settings, Offset from)
      : log_(log), settings_(settings), next_(from) {}

  // Reads until the log end (or, following, until a stop signal) or max records.
  // stdout_closed is set when the consumer of our output went away (not an error).
  Status run(bool& stdout_closed) {
    while (printed_ < settings_.max_records && !stop_requested()) {
      SAMSA_TRY_ASSIGN(LogSlice slice, log_.read(next_));
      if (slice.empty()) {
        if (!settings_.follow) break;
        (void)log_.wait_for_data(next_, kFollowStep);
        continue;
      }
      const Offset before = next_;
      SAMSA_TRY(print_slice(slice));
      if (next_ <= before && printed_ < settings_.max_records) {
        return Status::corruption(
            fmt::format("read at offset {} returned batches that end before it", before.value()));
      }
      if (!write_stdout(std::string_view(out_.data(), out_.size()))) {
        stdout_closed = errno == EPIPE;
        if (stdout_closed) return Status();
        return Status::io_error(fmt::format("writing to stdout: {}", std::strerror(errno)));
      }
      out_.clear();
    }
    if (settings_.latest_per_key) return print_latest(stdout_closed);
    return Status();
  }

 private:
  Status print_slice(const LogSlice& slice) {
    bytes_.clear();
    SAMSA_TRY(slice.read_into(bytes_));
    const std::string& path = slice.file ? slice.file->path() : log_.dir();
    std::size_t at = 0;
    while (at < bytes_.size() && printed_ < settings_.max_records) {
      const std::uint64_t position = slice.position.value() + at;
      auto batch = RecordBatchView::parse(ByteSpan(bytes_).subspan(at), position);
      if (!batch.ok()) return batch.status().with_context(path);
      SAMSA_TRY(
          batch->check_crc().with_context(fmt::format("{}: batch at position {}", path, position)));
      SAMSA_TRY(print_batch(*batch).with_context(path));
      at += batch->size_bytes();
      if (batch->next_offset() > next_) next_ = batch->next_offset();
    }
    return Status();
  }

  Status print_batch(const RecordBatchView& batch) {
    // The log's bound: a bomb on disk fails the read instead of taking the memory.
    SAMSA_TRY(
        reader_.reset(batch, {.max_decompressed_bytes = log_.config().max_decompressed_bytes()}));
    Record record;
    while (printed_ < settings_.max_records) {
      SAMSA_TRY_ASSIGN(bool more, reader_.next(record));
      if (!more) break;
      // A read returns whole batches: skip the records before the one asked for.
      if (record.offset < next_) continue;
      ++printed_;
      if (settings_.latest_per_key) {
        if (record.key) {
          latest_[std::string(as_chars(*record.key))] = {
              record.offset, record.timestamp,
              record.value ? std::optional(std::string(as_chars(*record.value))) : std::nullopt};
        }
        continue;
      }
      fmt::format_to(std::back_inserter(out_), "{}\t{}\t{}\t{}\n", record.offset.value(),
                     record.timestamp.value(), printable(record.key), printable(record.value));
    }
    return Status();
  }

  // --latest-per-key: the latest record of each key, printed in offset order at the end.
  Status print_latest(bool& stdout_closed) {
    std::vector<std::pair<const std::string*, const Latest*>> rows;
    rows.reserve(latest_.size());
    for (const auto& [key, latest] : latest_) rows.emplace_back(&key, &latest);
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second->offset < b.second->offset; });
    for (const auto& [key, latest] : rows) {
      fmt::format_to(std::back_inserter(out_), "{}\t{}\t{}\t{}\n", latest->offset.value(),
                     latest->timestamp.value(), *key,
                     latest->value ? std::string_view(*latest->value) : std::string_view("null"));
    }
    if (!write_stdout(std::string_view(out_.data(), out_.size()))) {
      stdout_closed = errno == EPIPE;
      if (!stdout_closed) {
        return Status::io_error(fmt::format("writing to stdout: {}", std::strerror(errno)));
      }
    }
    out_.clear();
    return Status();
  }

  struct Latest {
    Offset offset;
    Timestamp timestamp;
    std::optional<std::string> value;
  };

  const Log& log_;
  const ReadSettings& settings_;
  std::map<std::string, Latest> latest_;
  Offset next_;  // the first offset not printed yet
  std::int64_t printed_ = 0;
  std::vector<std::byte> bytes_;
  RecordReader reader_;
  fmt::memory_buffer out_;
};

}  // namespace

int run_read(std::span<char* const> argv) {
  std::vector<FlagSpec> specs = kLogConfigFlags;
  specs.insert(specs.end(), {{"--from", true},
                             {"--from-time", true},
                             {"--max", true},
                             {"--follow", false},
                             {"--latest-per-key", false}});
  auto args = parse_args(argv, specs);
  if (!args.ok()) return usage_error("read", args.status().message());
  if (args->help) {
    fmt::print("{}{}", kHelp, kLogConfigHelp);
    return kExitOk;
  }
  ReadSettings settings;
  if (Status s = parse_settings(*args, settings); !s.ok()) return usage_error("read", s.message());
  if (Status s = require_dir(settings.dir); !s.ok()) return failure("read", s.to_string());
  install_stop_handlers();
  auto log = open_log(settings.dir, settings.config);
  if (!log.ok()) return failure("read", log.status().to_string());

  Status status;
  bool stdout_closed = false;
  auto from = start_offset(**log, settings);
  if (!from.ok()) {
    status = from.status();
  } else if (*from) {
    Reader reader(**log, settings, **from);
    status = reader.run(stdout_closed);
  }
  const Status closed = (*log)->close();
  if (status.ok()) status = closed;
  if (!status.ok()) return failure("read", status.to_string());
  return kExitOk;
}

}  // namespace samsa::cli
