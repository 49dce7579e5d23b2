// What the `samsa` commands share: flag parsing, the LogConfig flags, output and signals.
#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "cli.h"

namespace samsa::cli {

namespace {

constexpr std::int64_t kInt32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

const FlagSpec* find_spec(std::span<const FlagSpec> specs, std::string_view name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string describe_range(std::int64_t min, std::int64_t max) {
  if (max == kInt64Max) return fmt::format("an integer >= {}", min);
  return fmt::format("an integer from {} to {}", min, max);
}

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
}

}  // namespace

Result<ParsedArgs> parse_args(std::span<char* const> args, std::span<const FlagSpec> specs) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positionals.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    const std::size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const FlagSpec* spec = find_spec(specs, name);
    if (spec == nullptr) return Status::invalid_argument(fmt::format("unknown flag {}", name));
    if (!spec->takes_value) {
      if (eq != std::string_view::npos) {
        return Status::invalid_argument(fmt::format("flag {} takes no value", name));
      }
      parsed.switches.emplace(name);
      continue;
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::invalid_argument(fmt::format("flag {} needs a value", name));
    }
    if (parsed.values.contains(name)) {
      return Status::invalid_argument(fmt::format("flag {} given twice", name));
    }
    parsed.values.emplace(std::string(name), std::move(value));
  }
  return parsed;
}

Status int_flag(const ParsedArgs& args, std::string_view flag, std::int64_t min, std::int64_t max,
                std::int64_t& out) {
  const std::string* text = args.value(flag);
  if (text == nullptr) return Status();
  std::int64_t v = 0;
  const char* first = text->data();
  const char* last = first + text->size();
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text->empty() || ec != std::errc() || end != last || v < min || v > max) {
    return Status::invalid_argument(
        fmt::format("{}: expected {}, got '{}'", flag, describe_range(min, max), *text));
  }
  out = v;
  return Status();
}

const std::vector<FlagSpec> kLogConfigFlags = {
    {"--segment-bytes", true},         {"--segment-ms", true},
    {"--index-interval-bytes", true},  {"--segment-index-bytes", true},
    {"--retention-ms", true},          {"--retention-bytes", true},
    {"--max-batch-bytes", true},       {"--decompressed-bytes-factor", true},
    {"--file-delete-delay-ms", true},  {"--timestamp-type", true},
    {"--cleanup-policy", true},        {"--min-cleanable-dirty-ratio", true},
    {"--min-compaction-lag-ms", true}, {"--max-compaction-lag-ms", true},
    {"--delete-retention-ms", true},
};

const std::string_view kLogConfigHelp =
    R"(Log settings (Kafka's topic configs; they apply while this command has the log open):
  --segment-bytes N          roll to a new segment past N bytes (segment.bytes, default 1 GiB)
  --segment-ms MS            roll a segment older than MS (segment.ms, default 7 days)
  --index-interval-bytes N   an index entry every N bytes (index.interval.bytes, default 4096)
  --segment-index-bytes N    index file size limit (segment.index.bytes, default 10 MiB)
  --retention-ms MS          delete segments older than MS; -1 keeps them (default 7 days)
  --retention-bytes N        keep at most N bytes; -1 = no limit (default)
  --max-batch-bytes N        largest batch accepted (max.message.bytes, default 1048588)
  --decompressed-bytes-factor F   a compressed batch's records may decompress to at most
                             F x max-batch-bytes; past it reads and appends fail (default 16)
  --file-delete-delay-ms MS  keep .deleted files this long (file.delete.delay.ms, default 60000)
  --timestamp-type create|log-append   message.timestamp.type (default create)
  --cleanup-policy delete|compact|compact,delete   cleanup.policy (default delete; compact
                             for `samsa compact`)
  --min-cleanable-dirty-ratio R   compact when dirty bytes / (clean + dirty) > R (default 0.5)
  --min-compaction-lag-ms MS      records younger than MS are not compacted (default 0)
  --max-compaction-lag-ms MS      compact records older than MS whatever the ratio (default: never)
  --delete-retention-ms MS        a tombstone stays MS after compaction first kept it (1 day)
)";

Status double_flag(const ParsedArgs& args, std::string_view flag, double min, double max,
                   double& out) {
  const std::string* text = args.value(flag);
  if (text == nullptr) return Status();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || errno != 0 || end != text->c_str() + text->size() || !(v >= min) ||
      !(v <= max)) {
    return Status::invalid_argument(
        fmt::format("{}: expected a number from {} to {}, got '{}'", flag, min, max, *text));
  }
  out = v;
  return Status();
}

// The compaction settings (Kafka's topic configs of the same names).
Status apply_compaction_flags(const ParsedArgs& args, LogConfig& config) {
  if (const std::string* policy = args.value("--cleanup-policy")) {
    auto parsed = CleanupPolicy::parse(*policy);
    if (!parsed.ok())
      return Status::invalid_argument("--cleanup-policy: " + parsed.status().message());
    config.cleanup_policy = *parsed;
  }
  SAMSA_TRY(
      double_flag(args, "--min-cleanable-dirty-ratio", 0, 1, config.min_cleanable_dirty_ratio));
  SAMSA_TRY(
      typed_int_flag(args, "--min-compaction-lag-ms", 0, kInt64Max, config.min_compaction_lag_ms));
  SAMSA_TRY(
      typed_int_flag(args, "--max-compaction-lag-ms", 1, kInt64Max, config.max_compaction_lag_ms));
  return typed_int_flag(args, "--delete-retention-ms", 0, kInt64Max, config.delete_retention_ms);
}

Status apply_log_config_flags(const ParsedArgs& args, LogConfig& config) {
  SAMSA_TRY(typed_int_flag(args, "--segment-bytes", 1, kInt64Max, config.segment_bytes));
  SAMSA_TRY(typed_int_flag(args, "--segment-ms", 1, kInt64Max, config.segment_ms));
  SAMSA_TRY(
      typed_int_flag(args, "--index-interval-bytes", 0, kInt32Max, config.index_interval_bytes));
  // At least one entry of the larger (time) index must fit.
  SAMSA_TRY(typed_int_flag(args, "--segment-index-bytes",
                           static_cast<std::int64_t>(index_layout::kTimeEntrySize), kInt32Max,
                           config.segment_index_bytes));
  SAMSA_TRY(typed_int_flag(args, "--retention-ms", -1, kInt64Max, config.retention_ms));
  SAMSA_TRY(typed_int_flag(args, "--retention-bytes", -1, kInt64Max, config.retention_bytes));
  SAMSA_TRY(typed_int_flag(args, "--max-batch-bytes",
                           static_cast<std::int64_t>(batch_layout::kHeaderSize), kInt32Max,
                           config.max_batch_bytes));
  SAMSA_TRY(typed_int_flag(args, "--decompressed-bytes-factor", 1, 4096,
                           config.decompressed_bytes_factor));
  SAMSA_TRY(
      typed_int_flag(args, "--file-delete-delay-ms", 0, kInt64Max, config.file_delete_delay_ms));
  if (const std::string* type = args.value("--timestamp-type")) {
    if (*type == "create" || *type == "create-time" || *type == "CreateTime") {
      config.timestamp_type = TimestampType::create_time;
    } else if (*type == "log-append" || *type == "log-append-time" || *type == "LogAppendTime") {
      config.timestamp_type = TimestampType::log_append_time;
    } else {
      return Status::invalid_argument(
          fmt::format("--timestamp-type: expected create or log-append, got '{}'", *type));
    }
  }
  return apply_compaction_flags(args, config);
}

Result<std::string> single_dir(const ParsedArgs& args) {
  if (args.positionals.empty()) return Status::invalid_argument("missing DIR");
  if (args.positionals.size() > 1) {
    return Status::invalid_argument(
        fmt::format("unexpected argument '{}' (one DIR only)", args.positionals[1]));
  }
  if (args.positionals[0].empty()) return Status::invalid_argument("DIR is empty");
  return args.positionals[0];
}

int usage_error(std::string_view command, std::string_view message) {
  fmt::print(stderr, "samsa {}: {} (see samsa {} --help)\n", command, message, command);
  return kExitUsage;
}

int failure(std::string_view command, std::string_view message) {
  fmt::print(stderr, "samsa {}: {}\n", command, message);
  return kExitFailure;
}

Status require_dir(const std::string& dir) {
  SAMSA_TRY_ASSIGN(bool exists, Env::posix().exists(dir));
  if (!exists) return Status::not_found(fmt::format("{}: no such directory", dir));
  // list_dir fails with "Not a directory" for a file.
  return Env::posix().list_dir(dir).status();
}

Result<std::unique_ptr<Log>> open_log(const std::string& dir, const LogConfig& config,
                                      LogOpenOptions options) {
  auto log = Log::open(Env::posix(), dir, config, SystemClock::instance(), options);
  if (!log.ok() && log.status().code() == StatusCode::busy) {
    return Status::busy(fmt::format(
        "{}: only one process may open a log directory at a time (reading a log that another "
        "process has open is a later feature)",
        log.status().message()));
  }
  return log;
}

bool write_stdout(std::string_view text) {
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    return false;
  }
  return std::fflush(stdout) == 0;
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked read returns EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() {
  return g_stop.load();
}

std::string_view printable(const std::optional<ByteSpan>& bytes) {
  return bytes ? as_chars(*bytes) : std::string_view("null");
}

}  // namespace samsa::cli
