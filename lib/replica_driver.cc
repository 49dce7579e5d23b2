// ReplicaDriver (include/samsa/replica_driver.h).
#include "samsa/replica_driver.h"

#include <fmt/format.h>

#include "invariant.h"

namespace samsa {

Result<std::vector<std::byte>> PartitionReplicaLog::read(Offset offset,
                                                         std::uint64_t max_bytes) const {
  PartitionReadOptions options;
  options.max_bytes = max_bytes;
  options.isolation = Isolation::log_end;
  options.min_one_batch = true;
  SAMSA_TRY_ASSIGN(auto r, partition_->read(offset, options));
  std::vector<std::byte> out;
  if (!r.slice.empty()) SAMSA_TRY(r.slice.read_into(out));
  return out;
}

namespace {

// The follower's check of fetched batches uses the bound the partition's append applies.
ReplicaSetConfig bounded_by_log(ReplicaSetConfig config, const Partition& partition) {
  config.max_decompressed_bytes = partition.log().config().max_decompressed_bytes();
  return config;
}

}  // namespace

ReplicaDriver::ReplicaDriver(Partition& partition, ReplicaSetConfig config)
    : partition_(&partition), log_(partition), replica_(bounded_by_log(config, partition), log_) {}

Status ReplicaDriver::execute(const Ready& ready) {
  const std::string& dir = partition_->dir();
  if (ready.truncate_to) {
    SAMSA_TRY(
        partition_->truncate_to(*ready.truncate_to)
            .with_context(fmt::format("{}: truncate to {}", dir, ready.truncate_to->value())));
  }
  if (!ready.append.empty()) {
    const Offset at = partition_->log_end_offset();
    std::vector<std::byte> bytes = ready.append;  // Partition may rewrite nothing; it wants a span
    auto r = partition_->append_as_follower(bytes);
    if (!r.ok()) {
      return r.status().with_context(fmt::format("{}: follower append at {}", dir, at.value()));
    }
  }
  // Durable: under samsa's default flush policy both calls above returned after fdatasync.
  if (ready.log_start_offset && *ready.log_start_offset > partition_->log_start_offset()) {
    SAMSA_TRY(partition_->delete_records_before(*ready.log_start_offset)
                  .with_context(
                      fmt::format("{}: log start to {}", dir, ready.log_start_offset->value())));
  }
  if (ready.high_watermark) {
    SAMSA_TRY(partition_->update_high_watermark(*ready.high_watermark)
                  .with_context(
                      fmt::format("{}: high watermark {}", dir, ready.high_watermark->value())));
  }
  return Status::ok_status();
}

Result<ReplicaOutput> ReplicaDriver::drain(std::int64_t now_ms) {
  ReplicaOutput out;
  constexpr int kReadyRoundsMax = 64;  // advance() queues at most one fetch: a few rounds
  for (int round = 0; round < kReadyRoundsMax && replica_.has_ready(); ++round) {
    Ready ready = replica_.ready();
    Status s = execute(ready);
    replica_.advance(now_ms);
    if (!s.ok()) {
      replica_.stop();
      // What was already decided still goes out, except messages (they would report state
      // that is not on disk).
      for (auto& c : ready.completions) out.completions.push_back(c);
      return s;
    }
    for (auto& m : ready.messages) out.messages.push_back(std::move(m));
    if (ready.alter_partition) out.alter_partition = std::move(ready.alter_partition);
    for (auto& c : ready.completions) out.completions.push_back(c);
  }
  SAMSA_ASSERT(!replica_.has_ready(), "Ready still pending after {} rounds", kReadyRoundsMax);
  return out;
}

Result<ProduceOutcome> ReplicaDriver::produce(MutableByteSpan batches, Acks acks,
                                              std::int64_t now_ms) {
  ProduceOutcome outcome;
  const KafkaError refused = replica_.check_append(acks);
  if (refused != KafkaError::none) {
    outcome.completion = ProduceCompletion{0, refused, Offset::none(), Offset::none()};
    return outcome;
  }
  SAMSA_TRY_ASSIGN(auto r, partition_->append(batches, replica_.leader_epoch()));
  outcome.completion =
      replica_.appended(r.info.first_offset, r.info.last_offset, acks, now_ms, &outcome.produce_id);
  return outcome;
}

}  // namespace samsa
