// Floor 7: ReplicaDriver executes a ReplicaSet's Ready against a Partition, in the order
// written on Ready (truncate, append, durable, log start, high watermark; then what goes
// out), so a host wires only transport and the controller. It also implements the
// leader's append path (Kafka's appendRecordsToLeader): check, append, register.
//
// Usage: after every input to replica() (step, tick, become_*), call drain() and deliver
// what it returns. The Partition must be opened with `replicated = true`.
//
// Thread-safety: not thread-safe; one owner drives it (the Partition itself is).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "samsa/partition.h"
#include "samsa/replica_set.h"

namespace samsa {

// ReplicaLog over a Partition.
class PartitionReplicaLog final : public ReplicaLog {
 public:
  explicit PartitionReplicaLog(const Partition& partition) : partition_(&partition) {}
  Offset log_start_offset() const override { return partition_->log_start_offset(); }
  Offset log_end_offset() const override { return partition_->log_end_offset(); }
  Offset high_watermark() const override { return partition_->high_watermark(); }
  std::optional<LeaderEpoch> latest_epoch() const override { return partition_->latest_epoch(); }
  EpochEndOffset end_offset_for_epoch(LeaderEpoch epoch) const override {
    return partition_->end_offset_for_epoch(epoch);
  }
  Result<std::vector<std::byte>> read(Offset offset, std::uint64_t max_bytes) const override;

 private:
  const Partition* partition_;
};

// What a drained Ready leaves for the host to deliver, in this order.
struct ReplicaOutput {
  std::vector<Envelope> messages;
  std::optional<AlterPartitionRequest> alter_partition;
  std::vector<ProduceCompletion> completions;
};

// The leader's answer to a produce: `completion` now for acks 0/1 and for refusals;
// for acks=all the id whose completion a later drain() returns.
struct ProduceOutcome {
  std::optional<ProduceCompletion> completion;
  std::uint64_t produce_id = 0;
};

class ReplicaDriver {
 public:
  // `partition` must outlive the driver.
  ReplicaDriver(Partition& partition, ReplicaSetConfig config);

  ReplicaSet& replica() { return replica_; }
  const ReplicaSet& replica() const { return replica_; }
  Partition& partition() { return *partition_; }

  // Executes every pending Ready. An I/O error stops the replica (fail-stop: Kafka takes
  // the log directory offline) and is returned with the partition and offset named.
  Result<ReplicaOutput> drain(std::int64_t now_ms);

  // The leader's append: NOT_LEADER_OR_FOLLOWER / NOT_ENOUGH_REPLICAS refusals come back
  // as a completion; a storage error as a Status.
  Result<ProduceOutcome> produce(MutableByteSpan batches, Acks acks, std::int64_t now_ms);

 private:
  Status execute(const Ready& ready);

  Partition* partition_;
  PartitionReplicaLog log_;
  ReplicaSet replica_;
};

}  // namespace samsa
