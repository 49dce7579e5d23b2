// samsa append: records from stdin, one per line, appended in batches; "acked FIRST-LAST"
// once each batch is durable under the chosen flush policy.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "cli.h"
#include "samsa/clock.h"
#include "samsa/record_batch.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa append DIR [FLAGS]

Appends the lines of stdin to the log in DIR (created when missing), one record per line
(the trailing newline is not part of it; an empty line is an empty value). Records are
grouped into batches; after each batch is durable under the flush policy, prints
"acked FIRST-LAST" (offsets, inclusive) and flushes stdout. The last partial batch is
appended at end of input or on SIGINT/SIGTERM.

  --key-separator S       the key is the text before the first S of a line, the value the
                          text after it; a line without S has a null key. Without this
                          flag every record has a null key and the whole line as value.
  --null-marker S         a value (or a key) equal to S is written as null: a null value
                          is a tombstone, which log compaction keeps for
                          --delete-retention-ms and then removes with the key
                          (kafka-console-producer's null.marker)
  --batch-records N       records per batch (default 100)
  --compression CODEC     none (default), gzip, snappy, lz4 or zstd
  --flush always|interval|manual
      always    (default) every acked batch survived fdatasync: nothing acked is lost to
                a crash or a power cut.
      interval  fdatasync once --flush-interval-bytes (default 1 MiB) or
                --flush-interval-ms (default 1000) have passed since the last one: a power
                cut (not a crash of samsa) may lose up to that much acked data.
      manual    fdatasync only once, after the last batch: a power cut before then may
                lose everything acked by this run.
  --flush-interval-bytes N, --flush-interval-ms MS   the interval policy's bounds

)";

struct AppendSettings {
  std::string dir;
  LogConfig config;
  std::optional<std::string> key_separator;
  std::optional<std::string> null_marker;
  std::int64_t batch_records = 100;
  Compression compression = Compression::none;
};

Status parse_flush_policy(const ParsedArgs& args, LogConfig& config) {
  const std::string* policy = args.value("--flush");
  if (policy == nullptr) return Status();
  if (*policy == "always") {
    config.flush_policy = FlushPolicy::durable;
  } else if (*policy == "interval") {
    config.flush_policy = FlushPolicy::interval_may_lose_recent;
  } else if (*policy == "manual") {
    config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  } else {
    return Status::invalid_argument(
        fmt::format("--flush: expected always, interval or manual, got '{}'", *policy));
  }
  return Status();
}

Status parse_settings(const ParsedArgs& args, AppendSettings& s) {
  SAMSA_TRY_ASSIGN(s.dir, single_dir(args));
  SAMSA_TRY(apply_log_config_flags(args, s.config));
  SAMSA_TRY(parse_flush_policy(args, s.config));
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  SAMSA_TRY(typed_int_flag(args, "--flush-interval-bytes", 1, kMax, s.config.flush_interval_bytes));
  SAMSA_TRY(typed_int_flag(args, "--flush-interval-ms", 1, kMax, s.config.flush_interval_ms));
  SAMSA_TRY(int_flag(args, "--batch-records", 1, std::numeric_limits<std::int32_t>::max(),
                     s.batch_records));
  if (const std::string* sep = args.value("--key-separator")) {
    if (sep->empty()) return Status::invalid_argument("--key-separator: must not be empty");
    s.key_separator = *sep;
  }
  if (const std::string* marker = args.value("--null-marker")) s.null_marker = *marker;
  if (const std::string* codec = args.value("--compression")) {
    auto parsed = parse_compression(*codec);
    if (!parsed.ok()) {
      return Status::invalid_argument(
          fmt::format("--compression: expected none, gzip, snappy, lz4 or zstd, got '{}'", *codec));
    }
    s.compression = *parsed;
  }
  return Status();
}

// Reads stdin line by line and appends batches to the log.
class Appender {
 public:
  Appender(Log& log, const AppendSettings& settings) : log_(log), settings_(settings) {
    options_.compression = settings.compression;
    builder_.reset(options_);
  }
  ~Appender() { std::free(line_); }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

  // Runs to end of input (or a stop signal); the error says what failed.
  Status run() {
    while (!stop_requested()) {
      errno = 0;
      const ssize_t n = ::getline(&line_, &line_capacity_, stdin);
      if (n < 0) {
        if (std::ferror(stdin) && !stop_requested()) {
          return Status::io_error(fmt::format("reading stdin: {}", std::strerror(errno)));
        }
        break;
      }
      std::string_view line(line_, static_cast<std::size_t>(n));
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      SAMSA_TRY(add_record(line));
    }
    return append_batch();
  }

 private:
  Status add_record(std::string_view line) {
    std::optional<ByteSpan> key;
    std::string_view value = line;
    if (settings_.key_separator) {
      const std::size_t at = line.find(*settings_.key_separator);
      if (at != std::string_view::npos) {
        key = as_bytes(line.substr(0, at));
        value = line.substr(at + settings_.key_separator->size());
      }
    }
    // Start a new batch rather than build one the log refuses as too large.
    const std::size_t record_bytes =
        line.size() + static_cast<std::size_t>(batch_layout::kMaxRecordOverhead);
    if (builder_.record_count() > 0 &&
        builder_.uncompressed_size() + record_bytes > log_.config().max_batch_bytes) {
      SAMSA_TRY(append_batch());
    }
    std::optional<ByteSpan> value_bytes = as_bytes(value);
    if (settings_.null_marker) {
      if (value == *settings_.null_marker) value_bytes.reset();
      if (key && as_chars(*key) == *settings_.null_marker) key.reset();
    }
    SAMSA_TRY(builder_.append(SystemClock::instance().now(), key, value_bytes));
    if (builder_.record_count() >= settings_.batch_records) SAMSA_TRY(append_batch());
    return Status();
  }

  Status append_batch() {
    if (builder_.record_count() == 0) return Status();
    SAMSA_TRY_ASSIGN(AppendInfo info, log_.append(builder_));
    builder_.reset(options_);
    if (!write_stdout(
            fmt::format("acked {}-{}\n", info.first_offset.value(), info.last_offset.value()))) {
      return Status::io_error(fmt::format("writing to stdout: {} (offsets up to {} were appended)",
                                          std::strerror(errno), info.last_offset.value()));
    }
    return Status();
  }

  Log& log_;
  const AppendSettings& settings_;
  BatchOptions options_;
  RecordBatchBuilder builder_;
  char* line_ = nullptr;
  std::size_t line_capacity_ = 0;
};

}  // namespace

int run_append(std::span<char* const> argv) {
  std::vector<FlagSpec> specs = kLogConfigFlags;
  specs.insert(specs.end(), {{"--key-separator", true},
                             {"--null-marker", true},
                             {"--batch-records", true},
                             {"--compression", true},
                             {"--flush", true},
                             {"--flush-interval-bytes", true},
                             {"--flush-interval-ms", true}});
  auto args = parse_args(argv, specs);
  if (!args.ok()) return usage_error("append", args.status().message());
  if (args->help) {
    fmt::print("{}{}", kHelp, kLogConfigHelp);
    return kExitOk;
  }
  AppendSettings settings;
  if (Status s = parse_settings(*args, settings); !s.ok()) {
    return usage_error("append", s.message());
  }
  if (Status s = Env::posix().create_dirs(settings.dir); !s.ok()) {
    return failure("append", s.to_string());
  }
  auto log = open_log(settings.dir, settings.config);
  if (!log.ok()) return failure("append", log.status().to_string());
  install_stop_handlers();

  Status status;
  {
    Appender appender(**log, settings);
    status = appender.run();
  }
  // The manual policy syncs only here; the others have synced what they acked already.
  if (status.ok() && settings.config.flush_policy == FlushPolicy::manual_may_lose_unflushed) {
    status = (*log)->flush();
  }
  const Status closed = (*log)->close();
  if (status.ok()) status = closed;
  if (!status.ok()) return failure("append", status.to_string());
  return kExitOk;
}

}  // namespace samsa::cli
