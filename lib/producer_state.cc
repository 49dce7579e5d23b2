// Idempotent-producer state: Kafka's ProducerStateManager, ProducerStateEntry and
// ProducerAppendInfo rules (sequence checks, duplicate detection, expiry) and its
// `.snapshot` file format, version 1 (docs/FORMAT.md).
#include "samsa/producer_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <span>

#include "invariant.h"
#include "samsa/coding.h"
#include "samsa/crc32c.h"
#include "samsa/segment.h"

namespace samsa {

namespace {

// Snapshot layout (Kafka's PID_SNAPSHOT_MAP_SCHEMA), all big-endian:
//   i16 version | u32 crc | i32 count | count x entry
// entry (PRODUCER_SNAPSHOT_ENTRY_SCHEMA):
//   i64 producer_id | i16 epoch | i32 last_sequence | i64 last_offset | i32 offset_delta |
//   i64 timestamp | i32 coordinator_epoch | i64 current_txn_first_offset
// The CRC-32C covers everything after the CRC field: [kCrcCoveredFrom, end).
constexpr std::int16_t kSnapshotVersion = 1;
constexpr std::size_t kCrcOffset = 2;
constexpr std::size_t kCrcCoveredFrom = 6;
constexpr std::size_t kSnapshotHeaderSize = 10;
constexpr std::size_t kSnapshotEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
static_assert(kCrcOffset + 4 == kCrcCoveredFrom);
static_assert(kCrcCoveredFrom + 4 == kSnapshotHeaderSize);
static_assert(kSnapshotEntrySize == 46);

// Kafka's inSequence: `next` directly follows `last`, INT32_MAX wrapping to 0. A producer
// with no batch (last = none, -1) is followed by 0.
bool in_sequence(Sequence last, Sequence next) {
  return next == last.advanced(1);
}

// Kafka's decrementSequence: the sequence `delta` records before `last`, wrapping below 0
// to INT32_MAX.
Sequence sequence_before(Sequence last, std::int32_t delta) {
  constexpr std::int64_t kSpan = std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1;
  std::int64_t first = std::int64_t{last.value()} - delta;
  if (first < 0) first += kSpan;
  return Sequence(static_cast<std::int32_t>(first));
}

ProducerBatchMetadata metadata_of(const RecordBatchView& batch) {
  return {batch.base_sequence(), batch.last_sequence(), batch.base_offset(), batch.last_offset(),
          batch.max_timestamp()};
}

// "producer 42 epoch 3 sequences 5..7 at offset 100", the part every refusal names.
std::string describe(const RecordBatchView& batch) {
  return fmt::format("producer {} epoch {} sequences {}..{} at offset {}",
                     batch.producer_id().value(), batch.producer_epoch().value(),
                     batch.base_sequence().value(), batch.last_sequence().value(),
                     batch.base_offset().value());
}

// Kafka's ProducerStateEntry.addBatch: a new epoch forgets the old epoch's batches (their
// sequences restart at 0, so they can no longer be told apart from new ones).
void record_batch(ProducerStateEntry& entry, ProducerEpoch epoch,
                  const ProducerBatchMetadata& batch) {
  if (entry.epoch != epoch) {
    entry.batches.clear();
    entry.epoch = epoch;
  }
  if (entry.batches.size() == ProducerStateManager::kMaxBatchesPerProducer) {
    entry.batches.pop_front();
  }
  entry.batches.push_back(batch);
  entry.last_timestamp = batch.timestamp;
}

// A batch that is only producer state: idempotent and not a control batch. Control batches
// (transaction markers) carry no sequence; they will move the state once transactions exist.
bool tracks_producer(const RecordBatchView& batch) {
  return batch.producer_id() != ProducerId::none() && !batch.is_control();
}

// Kafka's findDuplicateBatch: a remembered batch of the same epoch with exactly the same
// sequence range.
std::optional<ProducerBatchMetadata> find_duplicate(const ProducerStateEntry& entry,
                                                    const RecordBatchView& batch) {
  if (entry.epoch != batch.producer_epoch()) return std::nullopt;
  for (const ProducerBatchMetadata& b : entry.batches) {
    if (b.first_sequence == batch.base_sequence() && b.last_sequence == batch.last_sequence()) {
      return b;
    }
  }
  return std::nullopt;
}

// The epoch and sequence rules for a batch from a client, against `current` (the producer's
// state as the update has it so far; null when the producer is unknown).
Status check_client_batch(const ProducerStateEntry* current, const RecordBatchView& batch) {
  const ProducerEpoch epoch = batch.producer_epoch();
  const Sequence first = batch.base_sequence();
  if (current == nullptr) {
    // samsa's choice (Kafka since KIP-360 accepts any sequence here): a producer whose state
    // expired or was never seen must restart at 0, so a lost state is reported, not papered
    // over.
    if (first == Sequence(0)) return Status();
    return Status::unknown_producer_id(
        fmt::format("{}: no state for the producer; expected sequence 0, received {}",
                    describe(batch), first.value()));
  }
  if (epoch < current->epoch) {
    return Status::invalid_producer_epoch(
        fmt::format("{}: epoch {} is older than the producer's current epoch {}", describe(batch),
                    epoch.value(), current->epoch.value()));
  }
  if (epoch != current->epoch) {
    if (first == Sequence(0)) return Status();
    return Status::out_of_order_sequence(
        fmt::format("{}: a new epoch (current {}) must start at sequence 0, received {}",
                    describe(batch), current->epoch.value(), first.value()));
  }
  const Sequence last = current->last_sequence();
  if (in_sequence(last, first)) return Status();
  return Status::out_of_order_sequence(
      fmt::format("{}: expected sequence {}, received {} (last sequence {})", describe(batch),
                  last.advanced(1).value(), first.value(), last.value()));
}

Status corrupt_snapshot(std::string_view path, std::string_view what) {
  return Status::corruption(fmt::format("producer snapshot {}: {}", path, what));
}

// Removes snapshot files (a missing one is already gone), then makes the removals durable
// with one directory sync.
Status remove_snapshot_files(Env& env, const std::string& dir, std::span<const Offset> offsets) {
  if (offsets.empty()) return Status();
  for (Offset offset : offsets) {
    Status s = env.remove(join_path(dir, ProducerStateManager::snapshot_file_name(offset)));
    if (!s.ok() && !s.is_not_found()) return s;
  }
  return env.sync_dir(dir);
}

}  // namespace

// --- Update

Result<std::optional<ProducerBatchMetadata>> ProducerStateManager::Update::add(
    const RecordBatchView& batch, ProducerAppendOrigin origin) {
  if (!tracks_producer(batch)) return std::optional<ProducerBatchMetadata>();
  const ProducerId id = batch.producer_id();
  auto changed = changed_.find(id);
  const auto committed = manager_->producers_.find(id);
  const bool known_committed = committed != manager_->producers_.end();
  if (origin == ProducerAppendOrigin::client) {
    // Kafka looks for duplicates in the committed state only (Log.analyzeAndValidate-
    // ProducerState): a retry is of a batch whose append was acknowledged or lost in flight.
    if (known_committed) {
      if (auto duplicate = find_duplicate(committed->second, batch)) return duplicate;
    }
    const ProducerStateEntry* current = changed != changed_.end() ? &changed->second
                                        : known_committed         ? &committed->second
                                                                  : nullptr;
    SAMSA_TRY(check_client_batch(current, batch));
  }
  if (changed == changed_.end()) {
    ProducerStateEntry start;
    if (known_committed) start = committed->second;
    start.producer_id = id;
    changed = changed_.emplace(id, std::move(start)).first;
  }
  record_batch(changed->second, batch.producer_epoch(), metadata_of(batch));
  return std::optional<ProducerBatchMetadata>();
}

// --- ProducerStateManager

ProducerStateManager::ProducerStateManager(Env& env, std::string dir, Config config)
    : env_(env), dir_(std::move(dir)), config_(config) {}

void ProducerStateManager::commit(Update&& update, Offset next_offset) {
  SAMSA_ASSERT(update.manager_ == this, "an update committed to another manager");
  SAMSA_ASSERT(next_offset >= map_end_offset_, "map end offset moves back from {} to {}",
               map_end_offset_.value(), next_offset.value());
  for (auto& [id, entry] : update.changed_) producers_[id] = std::move(entry);
  update.changed_.clear();
  map_end_offset_ = next_offset;
}

void ProducerStateManager::replay(const RecordBatchView& batch) {
  if (tracks_producer(batch)) {
    ProducerStateEntry& entry = producers_[batch.producer_id()];
    entry.producer_id = batch.producer_id();
    record_batch(entry, batch.producer_epoch(), metadata_of(batch));
  }
  map_end_offset_ = batch.next_offset();
}

std::optional<ProducerStateEntry> ProducerStateManager::entry(ProducerId id) const {
  const auto it = producers_.find(id);
  if (it == producers_.end()) return std::nullopt;
  return it->second;
}

std::size_t ProducerStateManager::remove_expired(Timestamp now) {
  // Kafka's isProducerExpired: a producer inside a transaction is kept however idle.
  return std::erase_if(producers_, [&](const auto& item) {
    const ProducerStateEntry& e = item.second;
    return e.current_txn_first_offset == Offset::none() &&
           now - e.last_timestamp >= config_.producer_id_expiration_ms;
  });
}

void ProducerStateManager::clear(Offset offset) {
  producers_.clear();
  map_end_offset_ = offset;
}

std::string ProducerStateManager::snapshot_file_name(Offset offset) {
  return segment_file_prefix(offset) + std::string(kSnapshotSuffix);
}

// --- snapshot files

Status ProducerStateManager::take_snapshot() {
  const std::vector<std::byte> bytes = encode_producer_snapshot(producers_);
  return write_file_atomically(env_, join_path(dir_, snapshot_file_name(map_end_offset_)), bytes);
}

Result<std::vector<Offset>> ProducerStateManager::list_snapshots() const {
  SAMSA_TRY_ASSIGN(const auto names, env_.list_dir(dir_));
  std::vector<Offset> offsets;
  for (const std::string& name : names) {
    // Leaves out "<offset>.snapshot.tmp" (a write cut short) and any other file.
    if (auto offset = parse_segment_file_name(name, kSnapshotSuffix)) offsets.push_back(*offset);
  }
  std::sort(offsets.begin(), offsets.end());
  return offsets;
}

Result<std::optional<Offset>> ProducerStateManager::load_latest_snapshot(Offset max_offset) {
  SAMSA_TRY_ASSIGN(const auto offsets, list_snapshots());
  // Snapshots above max_offset describe a log that was truncated away; loading one later
  // would bring back producers whose batches are gone.
  const auto above = std::upper_bound(offsets.begin(), offsets.end(), max_offset);
  SAMSA_TRY(remove_snapshot_files(env_, dir_, std::span<const Offset>(above, offsets.end())));
  clear(Offset(0));
  if (above == offsets.begin()) return std::optional<Offset>();
  const Offset offset = *std::prev(above);
  const std::string path = join_path(dir_, snapshot_file_name(offset));
  SAMSA_TRY_ASSIGN(const auto bytes, read_file(env_, path));
  SAMSA_TRY_ASSIGN(producers_, decode_producer_snapshot(bytes, path));
  map_end_offset_ = offset;
  return std::optional<Offset>(offset);
}

Status ProducerStateManager::delete_snapshots_before(Offset offset) {
  SAMSA_TRY_ASSIGN(const auto offsets, list_snapshots());
  const auto end = std::lower_bound(offsets.begin(), offsets.end(), offset);
  return remove_snapshot_files(env_, dir_, std::span<const Offset>(offsets.begin(), end));
}

Status ProducerStateManager::delete_snapshot(Offset offset) {
  return remove_snapshot_files(env_, dir_, std::span<const Offset>(&offset, 1));
}

// --- snapshot encoding

namespace {

std::byte* encode_entry(std::byte* p, const ProducerStateEntry& e) {
  // Kafka's lastOffsetDelta: 0 for a producer with no batch.
  const std::int64_t offset_delta =
      e.batches.empty() ? 0 : e.batches.back().last_offset - e.batches.back().first_offset;
  SAMSA_ASSERT(offset_delta >= 0 && offset_delta <= std::numeric_limits<std::int32_t>::max(),
               "producer {} batch spans {} offsets", e.producer_id.value(), offset_delta);
  put_be<std::int64_t>(p, e.producer_id.value());
  put_be<std::int16_t>(p + 8, e.epoch.value());
  put_be<std::int32_t>(p + 10, e.last_sequence().value());
  put_be<std::int64_t>(p + 14, e.last_offset().value());
  put_be<std::int32_t>(p + 22, static_cast<std::int32_t>(offset_delta));
  put_be<std::int64_t>(p + 26, e.last_timestamp.value());
  put_be<std::int32_t>(p + 34, e.coordinator_epoch);
  put_be<std::int64_t>(p + 38, e.current_txn_first_offset.value());
  return p + kSnapshotEntrySize;
}

// One entry as Kafka's readSnapshot rebuilds it: the last batch only (none when its offset
// is negative), its first sequence and offset derived from the offset delta.
Result<ProducerStateEntry> decode_entry(ByteReader& r, std::string_view path) {
  std::int64_t id = 0, last_offset = 0, timestamp = 0, txn_first_offset = 0;
  std::int16_t epoch = 0;
  std::int32_t last_sequence = 0, offset_delta = 0, coordinator_epoch = 0;
  const std::size_t at = r.offset();
  const bool read = r.read_be(id) && r.read_be(epoch) && r.read_be(last_sequence) &&
                    r.read_be(last_offset) && r.read_be(offset_delta) && r.read_be(timestamp) &&
                    r.read_be(coordinator_epoch) && r.read_be(txn_first_offset);
  // decode_header() checked that the entries fill the file exactly.
  SAMSA_ASSERT(read, "snapshot entry at byte {} is short", at);
  ProducerStateEntry e;
  e.producer_id = ProducerId(id);
  e.epoch = ProducerEpoch(epoch);
  e.coordinator_epoch = coordinator_epoch;
  e.current_txn_first_offset = txn_first_offset >= 0 ? Offset(txn_first_offset) : Offset::none();
  e.last_timestamp = Timestamp(timestamp);
  if (last_offset < 0) return e;
  if (offset_delta < 0 || offset_delta > last_offset) {
    return corrupt_snapshot(
        path, fmt::format("entry at byte {}: offset delta {} for last offset {}", at, offset_delta,
                          last_offset));
  }
  const Sequence last(last_sequence);
  e.batches.push_back({sequence_before(last, offset_delta), last,
                       Offset(last_offset - offset_delta), Offset(last_offset),
                       Timestamp(timestamp)});
  return e;
}

// Reads version, CRC and count, checking them in Kafka's order (version first).
Result<std::int32_t> decode_header(ByteSpan bytes, std::string_view path) {
  ByteReader r(bytes);
  std::int16_t version = 0;
  std::uint32_t stored_crc = 0;
  std::int32_t count = 0;
  if (!r.read_be(version) || !r.read_be(stored_crc) || !r.read_be(count)) {
    return corrupt_snapshot(path, fmt::format("{} bytes, shorter than the {}-byte header",
                                              bytes.size(), kSnapshotHeaderSize));
  }
  if (version != kSnapshotVersion) {
    return corrupt_snapshot(
        path, fmt::format("unknown version {} (expected {})", version, kSnapshotVersion));
  }
  const std::uint32_t crc = crc32c(bytes.subspan(kCrcCoveredFrom));
  if (crc != stored_crc) {
    return corrupt_snapshot(
        path, fmt::format("CRC mismatch: stored {:#010x}, computed {:#010x}", stored_crc, crc));
  }
  if (count < 0) return corrupt_snapshot(path, fmt::format("negative entry count {}", count));
  const std::uint64_t need = std::uint64_t(count) * kSnapshotEntrySize;
  const std::uint64_t have = bytes.size() - kSnapshotHeaderSize;
  if (have != need) {
    return corrupt_snapshot(
        path, fmt::format("{} entries need {} bytes after the header, found {} ({})", count, need,
                          have, have < need ? "truncated" : "trailing bytes"));
  }
  return count;
}

}  // namespace

std::vector<std::byte> encode_producer_snapshot(
    const std::unordered_map<ProducerId, ProducerStateEntry>& producers) {
  // Sorted by producer id so that the same state always gives the same bytes.
  std::vector<const ProducerStateEntry*> sorted;
  sorted.reserve(producers.size());
  for (const auto& [id, entry] : producers) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->producer_id < b->producer_id; });
  SAMSA_ASSERT(sorted.size() <= std::size_t{std::numeric_limits<std::int32_t>::max()},
               "{} producers", sorted.size());

  std::vector<std::byte> out(kSnapshotHeaderSize + sorted.size() * kSnapshotEntrySize);
  put_be<std::int16_t>(out.data(), kSnapshotVersion);
  put_be<std::int32_t>(out.data() + kCrcCoveredFrom, static_cast<std::int32_t>(sorted.size()));
  std::byte* p = out.data() + kSnapshotHeaderSize;
  for (const ProducerStateEntry* e : sorted) p = encode_entry(p, *e);
  // The CRC goes in last: it covers the count and the entries.
  put_be<std::uint32_t>(out.data() + kCrcOffset, crc32c(ByteSpan(out).subspan(kCrcCoveredFrom)));
  return out;
}

Result<std::unordered_map<ProducerId, ProducerStateEntry>> decode_producer_snapshot(
    ByteSpan bytes, std::string_view path) {
  SAMSA_TRY_ASSIGN(const std::int32_t count, decode_header(bytes, path));
  ByteReader r(bytes);  // over the whole file, so that errors name file positions
  const bool skipped = r.skip(kSnapshotHeaderSize);
  SAMSA_ASSERT(skipped, "decode_header() checked the header is present");
  std::unordered_map<ProducerId, ProducerStateEntry> producers;
  for (std::int32_t i = 0; i < count; ++i) {
    SAMSA_TRY_ASSIGN(ProducerStateEntry e, decode_entry(r, path));
    const ProducerId id = e.producer_id;
    // A writer emits each producer once; a repeat means the file is not what was written.
    if (!producers.emplace(id, std::move(e)).second) {
      return corrupt_snapshot(path, fmt::format("producer {} appears twice", id.value()));
    }
  }
  return producers;
}

}  // namespace samsa
