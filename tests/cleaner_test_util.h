// Helpers for the Cleaner tests: a compacted log on FaultyEnv with a manual clock, keyed
// appends (null keys and null values included), reading a log back across offset gaps,
// the latest-per-key view a model predicts, and a check of a compacted directory's files.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "samsa/cleaner.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "test_util.h"

template <>
struct Catch::StringMaker<std::optional<std::string>> {
  static std::string convert(const std::optional<std::string>& s) {
    return s ? "\"" + *s + "\"" : std::string("null");
  }
};
template <>
struct Catch::StringMaker<samsa::test::LogRecord> {
  static std::string convert(const samsa::test::LogRecord& r) { return samsa::test::describe(r); }
};

namespace samsa::test {

// A record to append: nullopt key = no key, nullopt value = a tombstone.
struct KV {
  std::optional<std::string> key;
  std::optional<std::string> value;
};

// key -> value of the latest record of each key (a tombstone: nullopt). Keyless records
// are not in it.
using Latest = std::map<std::string, std::optional<std::string>>;

inline Latest latest_per_key(const std::vector<LogRecord>& records) {
  Latest out;
  for (const LogRecord& r : records) {
    if (r.key) out[*r.key] = r.value;
  }
  return out;
}

// Without the tombstones: what a reader who applies deletes sees.
inline Latest live_keys(const Latest& latest) {
  Latest out;
  for (const auto& [k, v] : latest) {
    if (v) out[k] = v;
  }
  return out;
}

inline std::string describe(const Latest& latest) {
  std::string out;
  for (const auto& [k, v] : latest) out += fmt::format("{}={} ", k, v ? *v : "null");
  return out;
}

inline LogConfig compacted_config() {
  LogConfig config;
  config.segment_bytes = 2048;
  config.index_interval_bytes = 128;
  config.segment_index_bytes = 4096;
  config.segment_ms = 3'600'000;
  config.cleanup_policy = CleanupPolicy{.delete_old = false, .compact = true};
  config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  config.topic = "table";
  config.partition = 0;
  return config;
}

// One compacted log on an in-memory file system, its clock and a Cleaner.
class CompactedLog {
 public:
  explicit CompactedLog(std::uint64_t seed = 1, LogConfig config = compacted_config(),
                        CleanerConfig cleaner_config = {}, std::string dir = "data/table-0")
      : env_(seed),
        config_(std::move(config)),
        cleaner_(cleaner_config, clock_),
        dir_(std::move(dir)) {}

  FaultyEnv& env() { return env_; }
  ManualClock& clock() { return clock_; }
  Log& log() { return *log_; }
  std::unique_ptr<Log>& log_ptr() { return log_; }
  Cleaner& cleaner() { return cleaner_; }
  LogConfig& config() { return config_; }
  const std::string& dir() const { return dir_; }

  Status open() {
    log_.reset();
    SAMSA_TRY_ASSIGN(log_, Log::open(env_, dir_, config_, clock_));
    return Status();
  }

  // Appends `records` as one batch stamped with the clock's time.
  Result<AppendInfo> append(const std::vector<KV>& records, BatchOptions options = {},
                            AppendOptions append_options = {}) {
    RecordBatchBuilder builder(options);
    for (const KV& r : records) {
      SAMSA_TRY(builder.append(clock_.now(), optional_bytes(r.key), optional_bytes(r.value)));
    }
    return log_->append(builder, append_options);
  }
  // One batch per record.
  Status append_each(const std::vector<KV>& records, BatchOptions options = {}) {
    for (const KV& r : records) SAMSA_TRY(append({r}, options).status());
    return Status();
  }
  // Makes the active segment inactive: past segment_ms, the next append rolls.
  Status roll() {
    clock_.advance_ms(config_.segment_ms + 1);
    return append({{"roll-marker", "x"}}).status();
  }

  Result<std::vector<ReadBatch>> batches() const {
    return read_batches(*log_, log_->log_start_offset(), {.require_contiguous = false});
  }
  Result<std::vector<LogRecord>> records() const {
    return read_all(*log_, log_->log_start_offset(), {.require_contiguous = false});
  }

  // Every batch of the log, each in its own buffer (RecordBatchView::parse reads one).
  Result<std::vector<std::vector<std::byte>>> raw_batches() const {
    std::vector<std::vector<std::byte>> out;
    SAMSA_TRY_ASSIGN(const auto batches, this->batches());
    for (const ReadBatch& b : batches) {
      SAMSA_TRY_ASSIGN(const LogSlice slice, log_->read(b.base_offset, {.max_bytes = 1}));
      std::vector<std::byte> bytes;
      SAMSA_TRY(slice.read_into(bytes));
      SAMSA_TRY_ASSIGN(const auto view, RecordBatchView::parse(bytes));
      bytes.resize(view.size_bytes());
      out.push_back(std::move(bytes));
    }
    return out;
  }

  Result<CleanResult> clean(std::optional<Offset> upper_bound = std::nullopt) {
    return cleaner_.clean(*log_, upper_bound);
  }

 private:
  FaultyEnv env_;
  ManualClock clock_;
  LogConfig config_;
  Cleaner cleaner_;
  std::string dir_;
  std::unique_ptr<Log> log_;
};

// Checks a compacted directory's files without opening the Log (call it after close()):
// every batch validates, offsets strictly increase within and across segments (gaps
// allowed), no batch lies below its segment's base, and both indexes point at the right
// batches (log_test_util.h's checks).
inline Status check_compacted_format(Env& env, const std::string& dir) {
  SAMSA_TRY_ASSIGN(const auto names, env.list_dir(dir));
  std::vector<Offset> bases;
  for (const std::string& name : names) {
    if (auto base = parse_segment_file_name(name, ".log")) bases.push_back(*base);
    if (name.ends_with(".cleaned") || name.ends_with(".swap")) {
      return Status::corruption(fmt::format("{}/{}: a leftover compaction file", dir, name));
    }
  }
  std::sort(bases.begin(), bases.end());
  Offset next(0);
  for (const Offset base : bases) {
    const std::string log_path = join_path(dir, log_file_name(base));
    SAMSA_TRY_ASSIGN(const auto bytes, read_file(env, log_path));
    SAMSA_TRY_ASSIGN(const auto batches, decode_batches(bytes, 0, log_path));
    if (base < next) {
      return internal::format_problem(log_path, 0, "segment base below the previous segment's end");
    }
    next = base;
    for (const ReadBatch& b : batches) {
      if (b.base_offset < next) {
        return internal::format_problem(
            log_path, b.position,
            fmt::format("batch base offset {} below {}", b.base_offset.value(), next.value()));
      }
      next = b.last_offset + 1;
    }
    if (batches.empty()) continue;
    SAMSA_TRY(internal::check_offset_index(env, join_path(dir, offset_index_file_name(base)), base,
                                           batches));
    SAMSA_TRY(
        internal::check_time_index(env, join_path(dir, time_index_file_name(base)), base, batches));
  }
  return Status();
}

}  // namespace samsa::test
