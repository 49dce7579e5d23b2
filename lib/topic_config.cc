#include "samsa/topic_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

namespace samsa {

namespace {

template <typename T>
Status parse_int(std::string_view name, std::string_view text, T min, T max, T& out) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::invalid_argument(fmt::format("{}: '{}' is not an integer", name, text));
  }
  if (v < min || v > max) {
    return Status::invalid_argument(
        fmt::format("{}: {} is outside [{}, {}]", name, text, min, max));
  }
  out = v;
  return Status();
}

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

}  // namespace

bool is_topic_config(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "cleanup.policy",         "delete.retention.ms",
      "file.delete.delay.ms",   "index.interval.bytes",
      "max.compaction.lag.ms",  "max.message.bytes",
      "message.timestamp.type", "min.cleanable.dirty.ratio",
      "min.compaction.lag.ms",  "retention.bytes",
      "retention.ms",           "segment.bytes",
      "segment.index.bytes",    "segment.ms"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

Status set_topic_config(LogConfig& config, std::string_view name, std::string_view value) {
  LogConfig c = config;
  Status st;
  if (name == "cleanup.policy") {
    auto p = CleanupPolicy::parse(value);
    if (!p.ok()) return Status::invalid_argument(fmt::format("cleanup.policy: '{}'", value));
    c.cleanup_policy = *p;
  } else if (name == "retention.ms") {
    st = parse_int<std::int64_t>(name, value, -1, kI64Max, c.retention_ms);
  } else if (name == "retention.bytes") {
    st = parse_int<std::int64_t>(name, value, -1, kI64Max, c.retention_bytes);
  } else if (name == "segment.bytes") {
    // Kafka: at least 14 bytes (a batch header); samsa's Log wants room for one batch.
    st = parse_int<std::uint64_t>(name, value, 1024, std::numeric_limits<std::int32_t>::max(),
                                  c.segment_bytes);
  } else if (name == "segment.ms") {
    st = parse_int<std::int64_t>(name, value, 1, kI64Max, c.segment_ms);
  } else if (name == "max.message.bytes") {
    st = parse_int<std::uint32_t>(name, value, 0, std::numeric_limits<std::int32_t>::max(),
                                  c.max_batch_bytes);
  } else if (name == "message.timestamp.type") {
    if (value == "CreateTime") {
      c.timestamp_type = TimestampType::create_time;
    } else if (value == "LogAppendTime") {
      c.timestamp_type = TimestampType::log_append_time;
    } else {
      return Status::invalid_argument(
          fmt::format("message.timestamp.type: '{}' (CreateTime or LogAppendTime)", value));
    }
  } else if (name == "min.cleanable.dirty.ratio") {
    char* end = nullptr;
    const std::string text(value);
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(v >= 0 && v <= 1)) {
      return Status::invalid_argument(
          fmt::format("min.cleanable.dirty.ratio: '{}' is not in [0, 1]", value));
    }
    c.min_cleanable_dirty_ratio = v;
  } else if (name == "min.compaction.lag.ms") {
    st = parse_int<std::int64_t>(name, value, 0, kI64Max, c.min_compaction_lag_ms);
  } else if (name == "max.compaction.lag.ms") {
    st = parse_int<std::int64_t>(name, value, 1, kI64Max, c.max_compaction_lag_ms);
  } else if (name == "delete.retention.ms") {
    st = parse_int<std::int64_t>(name, value, 0, kI64Max, c.delete_retention_ms);
  } else if (name == "index.interval.bytes") {
    st = parse_int<std::uint32_t>(name, value, 0, std::numeric_limits<std::int32_t>::max(),
                                  c.index_interval_bytes);
  } else if (name == "segment.index.bytes") {
    st = parse_int<std::uint32_t>(name, value, 8, std::numeric_limits<std::int32_t>::max(),
                                  c.segment_index_bytes);
  } else if (name == "file.delete.delay.ms") {
    st = parse_int<std::int64_t>(name, value, 0, kI64Max, c.file_delete_delay_ms);
  } else {
    return Status::invalid_argument(fmt::format("unknown topic config '{}'", name));
  }
  if (!st.ok()) return st;
  config = c;
  return Status();
}

Result<LogConfig> with_topic_configs(LogConfig base, const TopicConfigs& configs) {
  for (const auto& [name, value] : configs) SAMSA_TRY(set_topic_config(base, name, value));
  return base;
}

TopicConfigs topic_configs(const LogConfig& c) {
  TopicConfigs out = {
      {"cleanup.policy", c.cleanup_policy.to_string()},
      {"delete.retention.ms", std::to_string(c.delete_retention_ms)},
      {"file.delete.delay.ms", std::to_string(c.file_delete_delay_ms)},
      {"index.interval.bytes", std::to_string(c.index_interval_bytes)},
      {"max.compaction.lag.ms", std::to_string(c.max_compaction_lag_ms)},
      {"max.message.bytes", std::to_string(c.max_batch_bytes)},
      {"message.timestamp.type",
       c.timestamp_type == TimestampType::create_time ? "CreateTime" : "LogAppendTime"},
      {"min.cleanable.dirty.ratio", fmt::format("{}", c.min_cleanable_dirty_ratio)},
      {"min.compaction.lag.ms", std::to_string(c.min_compaction_lag_ms)},
      {"retention.bytes", std::to_string(c.retention_bytes)},
      {"retention.ms", std::to_string(c.retention_ms)},
      {"segment.bytes", std::to_string(c.segment_bytes)},
      {"segment.index.bytes", std::to_string(c.segment_index_bytes)},
      {"segment.ms", std::to_string(c.segment_ms)},
  };
  return out;
}

}  // namespace samsa
