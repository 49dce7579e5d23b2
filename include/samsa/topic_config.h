// Floor 5: Kafka's topic-level configuration names for what LogConfig holds, so a host can
// take a topic's configs as Kafka clients send them (CreateTopics, AlterConfigs) and show
// them back (DescribeConfigs).
//
// Names (Kafka's, with Kafka's units): cleanup.policy, retention.ms, retention.bytes,
// segment.bytes, segment.ms, max.message.bytes, message.timestamp.type (CreateTime or
// LogAppendTime), min.cleanable.dirty.ratio, min.compaction.lag.ms, max.compaction.lag.ms,
// delete.retention.ms, index.interval.bytes, segment.index.bytes, file.delete.delay.ms.
// Any other name, and a value that does not parse or is out of Kafka's range, is
// invalid_argument naming it; such configs are never half-applied.
//
// Thread-safety: free functions on caller-owned values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "samsa/log.h"

namespace samsa {

using TopicConfigs = std::vector<std::pair<std::string, std::string>>;

// Sets one config on `config`; invalid_argument ("unknown topic config 'x'", "retention.ms:
// 'abc' is not an integer") leaves it unchanged.
Status set_topic_config(LogConfig& config, std::string_view name, std::string_view value);
// Every config of `configs` applied to `base`, all or nothing.
Result<LogConfig> with_topic_configs(LogConfig base, const TopicConfigs& configs);
// The names above with `config`'s values, in Kafka's spelling, sorted by name.
TopicConfigs topic_configs(const LogConfig& config);
bool is_topic_config(std::string_view name);

}  // namespace samsa
