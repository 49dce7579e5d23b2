// Floor 6: the leader epoch cache of one partition: which leader epoch began at which
// offset, kept in Kafka's `leader-epoch-checkpoint` file (docs/FORMAT.md) with Kafka's
// assign / truncate semantics (LeaderEpochFileCache). Followers use end_offset_for() to find
// where their log diverged from the leader's (KIP-101, KIP-279).
//
// Every change is all or nothing in memory: a call that fails to write the checkpoint returns
// the error and leaves entries() as they were (the file then holds the old entries or, when
// only the final directory fsync failed, the new ones; both are valid checkpoints).
//
// Thread-safety: not thread-safe; the owner (a Partition) serializes calls.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "samsa/env.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

struct EpochEntry {
  LeaderEpoch epoch;
  Offset start_offset;
  friend bool operator==(const EpochEntry&, const EpochEntry&) = default;
};

// The answer to OffsetForLeaderEpoch: the largest epoch <= the one asked for, and the
// offset where that epoch ended (the start of the next higher epoch, or the log end for the
// latest). Both none when the requested epoch is none or larger than every known epoch.
struct EpochEndOffset {
  LeaderEpoch epoch = LeaderEpoch::none();
  Offset end_offset = Offset::none();
  friend bool operator==(const EpochEndOffset&, const EpochEndOffset&) = default;
};

class LeaderEpochCache {
 public:
  static constexpr std::string_view kFileName = "leader-epoch-checkpoint";

  // Loads `<dir>/leader-epoch-checkpoint` (an empty cache when the file is missing, or empty
  // as Kafka leaves it when it creates the file before the first write).
  // Corruption names the file and line. `env` must outlive the cache.
  static Result<LeaderEpochCache> open(Env& env, std::string dir);

  // Kafka's assign: records that `epoch` started at `start_offset`. Does nothing when the
  // latest entry already has this epoch at an offset <= start_offset. Otherwise first
  // removes every entry whose epoch >= `epoch` or whose start offset >= start_offset, then
  // appends, then writes the checkpoint durably. An invalid epoch or offset (none) is
  // invalid_argument.
  Status assign(LeaderEpoch epoch, Offset start_offset);

  // Removes every entry whose start offset >= end_offset (the log was truncated to
  // end_offset), then checkpoints when something changed. A none offset is invalid_argument.
  Status truncate_from_end(Offset end_offset);

  // The log start moved to start_offset: entries wholly below it are removed and the latest
  // entry starting at or below it is moved up to start at start_offset; checkpoints when
  // something changed. A none offset is invalid_argument.
  Status truncate_from_start(Offset start_offset);

  // Removes every entry and checkpoints.
  Status clear();

  // Kafka's endOffsetFor (see EpochEndOffset). `log_end_offset` is the answer for the
  // latest epoch.
  EpochEndOffset end_offset_for(LeaderEpoch requested, Offset log_end_offset) const;

  std::optional<LeaderEpoch> latest_epoch() const;
  // The epoch before the latest one.
  std::optional<LeaderEpoch> previous_epoch() const;
  std::optional<EpochEntry> earliest_entry() const;
  std::optional<EpochEntry> latest_entry() const;
  // The epoch holding `offset`: the entry with the largest start offset <= offset.
  std::optional<LeaderEpoch> epoch_for_offset(Offset offset) const;
  const std::vector<EpochEntry>& entries() const { return entries_; }
  const std::string& path() const { return path_; }

 private:
  LeaderEpochCache(Env& env, std::string path) : env_(&env), path_(std::move(path)) {}
  Status write_checkpoint();
  // Writes `next` as the checkpoint, then makes it the cache's entries (only on success).
  Status commit(std::vector<EpochEntry> next);

  Env* env_;
  std::string path_;
  // Invariant: strictly ascending by epoch and by start offset; no epoch or offset is none.
  std::vector<EpochEntry> entries_;
};

}  // namespace samsa
