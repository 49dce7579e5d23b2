// Floor 6: idempotent producers, as Kafka does them (ProducerStateManager,
// ProducerStateEntry, ProducerAppendInfo): per producer id its epoch and the metadata of its
// last 5 batches, so a retried batch is recognised and answered with its original offsets,
// and a gap or a stale epoch is refused. Snapshots (`<offset>.snapshot`, Kafka's binary
// format with its CRC, docs/FORMAT.md) let recovery start from the last one instead of
// rescanning the log.
//
// Thread-safety: not thread-safe; the owner (a Partition) serializes calls.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "samsa/env.h"
#include "samsa/record_batch.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

// One appended batch of a producer.
struct ProducerBatchMetadata {
  Sequence first_sequence;
  Sequence last_sequence;
  Offset first_offset;
  Offset last_offset;
  Timestamp timestamp;  // the batch's max timestamp
  friend bool operator==(const ProducerBatchMetadata&, const ProducerBatchMetadata&) = default;
};

struct ProducerStateEntry {
  ProducerId producer_id = ProducerId::none();
  ProducerEpoch epoch = ProducerEpoch::none();
  std::int32_t coordinator_epoch = -1;
  Offset current_txn_first_offset = Offset::none();  // none until transactions exist
  Timestamp last_timestamp = Timestamp::none();      // of the last batch; drives expiry
  // Oldest first; at most ProducerStateManager::kMaxBatchesPerProducer.
  std::deque<ProducerBatchMetadata> batches;

  Sequence last_sequence() const {
    return batches.empty() ? Sequence::none() : batches.back().last_sequence;
  }
  Offset last_offset() const {
    return batches.empty() ? Offset::none() : batches.back().last_offset;
  }
};

// Where an idempotent batch comes from: a producer (sequence rules enforced) or another
// replica or a rebuild from the log (trusted: recorded as is).
enum class ProducerAppendOrigin : std::uint8_t { client, replication };

class ProducerStateManager {
 public:
  static constexpr std::size_t kMaxBatchesPerProducer = 5;  // Kafka's NUM_BATCHES_TO_RETAIN
  static constexpr std::string_view kSnapshotSuffix = ".snapshot";

  struct Config {
    std::int64_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms
  };

  // Remembers `dir` for snapshots; reads nothing yet (see load_latest_snapshot()).
  ProducerStateManager(Env& env, std::string dir, Config config);

  // The changes one append makes: checked batch by batch against the state as updated by
  // the earlier batches of the same append, and applied only by commit().
  class Update {
   public:
    // Checks one validated batch whose offsets are assigned. A batch without a producer id
    // is accepted and ignored, and so is a control batch (a transaction marker: it carries
    // no sequence, and samsa has no transactions yet). A duplicate (same producer, epoch
    // and sequence range as one of the producer's remembered batches, checked against the
    // committed state) returns that batch's metadata and records nothing. Errors:
    // invalid_producer_epoch (epoch older than the producer's), out_of_order_sequence (a
    // gap, or a new epoch not starting at 0), unknown_producer_id (no state and a first
    // sequence other than 0); each names the producer, epoch and sequences. Replication
    // origin skips these checks.
    Result<std::optional<ProducerBatchMetadata>> add(const RecordBatchView& batch,
                                                     ProducerAppendOrigin origin);
    bool empty() const { return changed_.empty(); }

   private:
    friend class ProducerStateManager;
    explicit Update(const ProducerStateManager& manager) : manager_(&manager) {}
    const ProducerStateManager* manager_;
    std::unordered_map<ProducerId, ProducerStateEntry> changed_;
  };

  Update begin_update() const { return Update(*this); }
  // Applies an update whose batches were written; `next_offset` is the log end after them.
  void commit(Update&& update, Offset next_offset);

  // Rebuilding: records an appended batch without checks (origin replication) and moves
  // map_end_offset() to the batch's next offset, whether or not it has a producer.
  void replay(const RecordBatchView& batch);

  std::optional<ProducerStateEntry> entry(ProducerId id) const;
  const std::unordered_map<ProducerId, ProducerStateEntry>& producers() const { return producers_; }
  // The offset the state is current to: one past the last batch recorded.
  Offset map_end_offset() const { return map_end_offset_; }
  void set_map_end_offset(Offset offset) { map_end_offset_ = offset; }

  // Removes producers whose last timestamp is producer_id_expiration_ms or more before
  // `now`. Returns how many were removed.
  std::size_t remove_expired(Timestamp now);

  // Writes `<dir>/<map_end_offset, 20 digits>.snapshot` durably (tmp, fsync, rename,
  // directory fsync), replacing one already there. Only each producer's last batch goes
  // in, as in Kafka, so a producer restored from it detects a retry of that batch only.
  Status take_snapshot();
  // Loads the newest snapshot whose offset <= `max_offset`, after deleting snapshots
  // above it; the state then starts at that offset, which is returned. With no such
  // snapshot it returns nullopt, the state is empty and map_end_offset() is 0: the caller
  // replays the log from its start (or calls clear(log start) first). A corrupt snapshot
  // (CRC, length, version, trailing bytes) is reported as corruption naming the file and
  // leaves the state empty; the caller may delete it and try the next older one. Producers
  // are loaded as stored, expired or not: call remove_expired() after.
  Result<std::optional<Offset>> load_latest_snapshot(Offset max_offset);
  // Snapshot offsets on disk, ascending.
  Result<std::vector<Offset>> list_snapshots() const;
  // Deletes snapshots whose offset < `offset` (those of deleted segments).
  Status delete_snapshots_before(Offset offset);
  // Deletes the snapshot at exactly `offset` (one found corrupt); ok when there is none.
  Status delete_snapshot(Offset offset);
  // Forgets every producer; the state starts over at `offset` (no snapshot is touched).
  // After a log truncation the owner calls load_latest_snapshot(new end) and replays the
  // log from the offset it returns, as Kafka's loadProducerState does.
  void clear(Offset offset);

  static std::string snapshot_file_name(Offset offset);

 private:
  Env& env_;
  std::string dir_;
  Config config_;
  std::unordered_map<ProducerId, ProducerStateEntry> producers_;
  Offset map_end_offset_{0};
};

// Kafka's snapshot file bytes for `producers` (version 1, CRC-32C over the bytes after
// the CRC field), and back. Exposed for tests and `samsa dump`.
std::vector<std::byte> encode_producer_snapshot(
    const std::unordered_map<ProducerId, ProducerStateEntry>& producers);
Result<std::unordered_map<ProducerId, ProducerStateEntry>> decode_producer_snapshot(
    ByteSpan bytes, std::string_view path);

}  // namespace samsa
