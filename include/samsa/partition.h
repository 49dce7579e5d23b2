// Floor 6: Partition, the unit a broker serves: one Log plus the state Kafka keeps beside
// it (docs/ARCHITECTURE.md, docs/FORMAT.md):
//   - the log start offset (the Log's);
//   - the high watermark: readers of committed data never see past it; checkpointed in
//     `replication-offset-checkpoint` (Kafka's text format) in the partition directory;
//   - the last stable offset: the high watermark, until transactions exist;
//   - the leader epoch cache (`leader-epoch-checkpoint`), with end_offset_for();
//   - idempotent producer state (`<offset>.snapshot`, taken at each roll and at close).
//
// The high watermark: an unreplicated partition (the default) is its own in-sync replica
// set, so its high watermark follows the log end as appends are acknowledged (after
// fdatasync under the durable flush policy). A replicated one (`replicated = true`) moves
// it only through update_high_watermark(), called by whatever replicates it.
//
// Thread-safety: thread-safe, like Log: appends (and the other writes) are serialized,
// reads run concurrently with them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "samsa/clock.h"
#include "samsa/env.h"
#include "samsa/leader_epoch_cache.h"
#include "samsa/log.h"
#include "samsa/producer_state.h"

namespace samsa {

struct PartitionConfig {
  LogConfig log;
  std::int64_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms
  // The high watermark moves only through update_high_watermark() (a ReplicaSet drives it).
  bool replicated = false;
};

// Which data a read may see.
enum class Isolation : std::uint8_t {
  committed,  // below the high watermark (Kafka's read_uncommitted consumers, and
              // read_committed ones while the last stable offset is the high watermark)
  log_end,    // everything in the log (followers replicating from a leader)
};

struct PartitionAppendResult {
  AppendInfo info;
  // A retry of a batch already in the log: nothing was appended; info holds the original
  // batch's first and last offsets (its other fields are zero).
  bool duplicate = false;
  Offset log_start_offset;
  Offset high_watermark;
};

struct PartitionReadOptions {
  std::uint64_t max_bytes = 1 << 20;
  Isolation isolation = Isolation::committed;
  bool min_one_batch = true;  // KIP-74
};

struct PartitionReadResult {
  LogSlice slice;
  // The partition's offsets when the read was served (what a Fetch response reports).
  Offset high_watermark;
  Offset last_stable_offset;
  Offset log_start_offset;
  Offset log_end_offset;
};

struct PartitionMaintenanceReport {
  RetentionReport retention;
  std::size_t producers_expired = 0;
  std::int64_t snapshots_deleted = 0;
  bool high_watermark_checkpointed = false;
};

class Partition {
 public:
  static constexpr std::string_view kHighWatermarkFile = "replication-offset-checkpoint";

  // Opens (creating when needed) the partition in `dir`: recovers the Log, then loads the
  // high watermark (clamped to [log start, log end]), the leader epoch cache (truncated to
  // the log and rebuilt from the batches' leader epochs from where the Log's recovery
  // rescanned) and the producer state (newest snapshot at or below the log end, then the
  // batches after it). `env` and `clock` must outlive the Partition.
  static Result<std::unique_ptr<Partition>> open(Env& env, const std::string& dir,
                                                 PartitionConfig config,
                                                 Clock& clock = SystemClock::instance(),
                                                 LogOpenOptions options = {});
  ~Partition();  // close(), ignoring errors

  // The leader's append of a producer's batches (a produce request): each batch is
  // validated, its producer id / epoch / sequence checked, then stamped with `leader_epoch`
  // (none: the cache's latest epoch, or 0 when it has none) and appended; a batch whose
  // header max timestamp is not its records' largest gets it fixed, as Kafka's leader
  // does (Log::append). A retried
  // duplicate of one of the producer's last 5 batches appends nothing and returns the
  // original offsets (once they are durable). A new leader epoch is assigned in the epoch
  // cache at the first batch's offset.
  Result<PartitionAppendResult> append(MutableByteSpan batches,
                                       LeaderEpoch leader_epoch = LeaderEpoch::none());
  // In-process producers: builds the builder's batch and appends it the same way.
  Result<PartitionAppendResult> append(RecordBatchBuilder& builder,
                                       LeaderEpoch leader_epoch = LeaderEpoch::none());

  // A follower's append of batches copied from the leader: their bytes, offsets and leader
  // epochs are kept as they are (they must start at the log end), producer state is recorded
  // without sequence checks and the epoch cache learns each batch's epoch.
  Result<PartitionAppendResult> append_as_follower(MutableByteSpan batches);

  // Reads whole batches from the one holding `offset` (see Log::read), bounded by the
  // high watermark for committed reads.
  Result<PartitionReadResult> read(Offset offset, const PartitionReadOptions& options = {}) const;

  // Waits until data at `offset` is readable under `isolation` or `timeout` passes.
  bool wait_for_data(Offset offset, Isolation isolation, std::chrono::milliseconds timeout) const;

  // ListOffsets: the sentinels give the log start and the last stable offset (latest,
  // for committed isolation) or the log end; a timestamp gives the first record at or
  // after it, if that record is below the bound.
  Result<std::optional<TimestampOffset>> offset_for_timestamp(
      Timestamp ts, Isolation isolation = Isolation::committed) const;

  // OffsetForLeaderEpoch (KIP-101/279): where `epoch` ended in this log.
  EpochEndOffset end_offset_for_epoch(LeaderEpoch epoch) const;
  std::optional<LeaderEpoch> latest_epoch() const;

  // A replicated partition's high watermark: moves forward only, clamped to the log end.
  // invalid_argument for an unreplicated partition (it moves its own).
  Status update_high_watermark(Offset offset);

  // Follower truncation (after OffsetForLeaderEpoch): Log::truncate_to, then the epoch
  // cache drops entries from the new end, producer state is reloaded from the newest
  // snapshot at or below it and the log replayed, and the high watermark is lowered to the
  // new end if above it.
  Status truncate_to(Offset offset);

  // Kafka's DeleteRecords: advances the log start offset (never past the high watermark);
  // the epoch cache follows. out_of_range past the high watermark.
  Status delete_records_before(Offset offset);

  // Background work the host calls: retention (segments wholly below the high watermark
  // only), producer expiry, deletion of snapshots below the oldest segment, the high
  // watermark checkpoint when it moved.
  Result<PartitionMaintenanceReport> maintain();

  // Flushes the log, and writes the high watermark checkpoint and a producer snapshot.
  Status flush();
  // flush(), then closes the log (clean shutdown). Idempotent.
  Status close();

  Offset log_start_offset() const;
  Offset log_end_offset() const;
  Offset high_watermark() const;
  Offset last_stable_offset() const;
  std::optional<ProducerStateEntry> producer(ProducerId id) const;
  std::vector<EpochEntry> epoch_entries() const;

  // The Log underneath, for reads, segment listings and the Cleaner. Appending to it
  // directly bypasses producer state and the epoch cache: don't.
  Log& log();
  const Log& log() const;
  const std::string& dir() const;

 private:
  friend class PartitionAppendHook;
  struct Impl;
  explicit Partition(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace samsa
