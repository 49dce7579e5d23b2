// Internal: Kafka's checkpoint files (docs/FORMAT.md), written durably.
//
//   offset checkpoints (recovery-point-offset-checkpoint, log-start-offset-checkpoint,
//   replication-offset-checkpoint): "0\n<count>\n" then "<topic> <partition> <offset>\n"
//   per entry.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "samsa/env.h"
#include "samsa/types.h"

namespace samsa::internal {

struct CheckpointEntry {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  friend bool operator==(const CheckpointEntry&, const CheckpointEntry&) = default;
};

std::string format_offset_checkpoint(const std::vector<CheckpointEntry>& entries);
// Parses the text of a checkpoint; corruption names the path and line.
Result<std::vector<CheckpointEntry>> parse_offset_checkpoint(std::string_view text,
                                                             std::string_view path);

// Write: tmp, fsync, rename, directory fsync. Read: not_found when the file is missing.
Status write_offset_checkpoint(Env& env, const std::string& path,
                               const std::vector<CheckpointEntry>& entries);
Result<std::vector<CheckpointEntry>> read_offset_checkpoint(Env& env, const std::string& path);

// Kafka's clean-shutdown marker (.kafka_cleanshutdown): JSON naming the format version.
inline constexpr std::string_view kCleanShutdownFile = ".kafka_cleanshutdown";
inline constexpr std::string_view kCleanShutdownContent = "{\"version\":0,\"brokerEpoch\":-1}";

}  // namespace samsa::internal
