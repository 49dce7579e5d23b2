// Floor 8: GroupDriver executes a GroupCoordinator's Readys against the Partition of
// `__consumer_offsets` that holds its groups (house rule 2's driver): it loads the
// coordinator from the partition's records, and for each Ready sends the responses, then
// appends the records as one batch (durable under the partition's flush policy: the
// default makes it durable on return) and advances the coordinator with the outcome.
//
// Thread-safety: not thread-safe; the host serializes calls per coordinator (one lock per
// `__consumer_offsets` partition).
#pragma once

#include <cstdint>
#include <functional>

#include "samsa/group_coordinator.h"
#include "samsa/partition.h"

namespace samsa {

struct GroupLoadReport {
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
};

class GroupDriver {
 public:
  GroupDriver(GroupCoordinator& coordinator, Partition& partition)
      : coordinator_(coordinator), partition_(partition) {}

  // Replays every committed record from the log start to the high watermark, then
  // loaded(now). A record that does not parse fails the load with a corruption naming its
  // offset; nothing is served from a coordinator whose load failed.
  Result<GroupLoadReport> load(std::int64_t now);

  // Executes Readys until the coordinator has none: `send` gets every response.
  using Send = std::function<void(GroupResponse)>;
  void run(std::int64_t now, const Send& send);

  // Appends that failed (each was reported to the coordinator, which answered the
  // requests waiting on it with an error).
  std::uint64_t appends_failed() const { return appends_failed_; }

 private:
  Status append(const std::vector<GroupRecord>& records, std::int64_t now);

  GroupCoordinator& coordinator_;
  Partition& partition_;
  std::uint64_t appends_failed_ = 0;
};

}  // namespace samsa
