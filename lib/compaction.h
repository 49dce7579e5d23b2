// Internal: what the Cleaner (cleaner.cc) and a Log's compaction (log_compaction.cc)
// share: the offset map, the per-batch retention rule, the writer of a cleaned segment, and
// the state of one pass.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "samsa/cleaner.h"
#include "samsa/env.h"
#include "samsa/index.h"
#include "samsa/record_batch.h"
#include "samsa/segment.h"

namespace samsa::internal {

// XXH3-128 of a record key: what the offset map stores instead of the key (Kafka stores an
// MD5). A collision would make the older of two keys look superseded; at 128 bits the odds
// are negligible.
struct KeyHash {
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  friend bool operator==(const KeyHash&, const KeyHash&) = default;
};
KeyHash hash_key(ByteSpan key);

// Kafka's SkimpyOffsetMap: key hash -> the last offset seen for it, in an array of 24-byte
// slots with open addressing (linear probing), within `memory_bytes`.
//
// Unlike Kafka's fixed array, the table starts small and doubles (at half full) while the
// old and the new table together fit in memory_bytes: a pass over a few thousand keys
// touches a few MiB, not the whole budget (fresh memory is paid for page by page). When a
// doubling no longer fits, the map empties itself into the largest table memory_bytes
// holds, filled up to the load factor as Kafka's is, and the caller indexes again from the
// start (Put::restart): the capacity is Kafka's, the memory never more than memory_bytes.
//
// Thread-safety: one thread at a time.
class OffsetMap {
 public:
  OffsetMap(std::uint64_t memory_bytes, double load_factor);
  ~OffsetMap();
  OffsetMap(const OffsetMap&) = delete;
  OffsetMap& operator=(const OffsetMap&) = delete;

  enum class Put : std::uint8_t {
    ok,       // recorded
    full,     // a new key while the map holds max_entries(): nothing changed
    restart,  // a new key needed the largest table: the map is now empty in it; put every
              // key again from the first
  };

  // Empties the map (back to its smallest table).
  void clear();
  // Records `offset` as the key's latest.
  Put put(const KeyHash& key, Offset offset);
  // The key's latest offset, or nullopt when the key is not in the map.
  std::optional<Offset> get(const KeyHash& key) const;
  // Starts loading the key's first slot into the cache. A large map is far larger than the
  // caches: the keys of a whole batch are prefetched, then put or looked up.
  void prefetch(const KeyHash& key) const {
    if (table_) __builtin_prefetch(table_.get() + home(key));
  }

  std::int64_t size() const { return entries_; }
  std::int64_t slots() const { return slots_; }  // of the current table
  // Keys the largest table takes (memory_bytes / 24 slots at the load factor).
  std::int64_t max_entries() const { return max_entries_; }
  double utilization() const {
    return slots_ == 0 ? 0 : static_cast<double>(entries_) / static_cast<double>(slots_);
  }

 private:
  struct Slot {
    std::uint64_t low;
    std::uint64_t high;
    std::int64_t offset_plus_one;  // 0: empty slot (so a zeroed array is an empty map)
  };
  static_assert(sizeof(Slot) == 24);
  struct Free {
    void operator()(Slot* p) const { std::free(p); }
  };
  using Table = std::unique_ptr<Slot[], Free>;

  // The key's first slot: Lemire's multiply-shift, uniform without a division (GCC's and
  // Clang's 128-bit integers).
  std::size_t home(const KeyHash& key) const {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<Wide>(key.low) * static_cast<Wide>(slots_)) >> 64);
  }
  // The key's slot, or the empty slot where it would go.
  Slot& find(const KeyHash& key) const;
  static Table allocate(std::int64_t slots);
  void grow_to(std::int64_t slots);

  Table table_;
  std::int64_t slots_ = 0;
  std::int64_t initial_slots_ = 0;
  std::int64_t max_slots_ = 0;
  std::int64_t max_entries_ = 0;  // in the largest table
  std::int64_t entries_ = 0;
};

// What decides which records of the segments being cleaned stay (Kafka's
// Cleaner.shouldRetainRecord and the batch retention of MemoryRecords.filterTo).
struct RetentionRule {
  const OffsetMap* map = nullptr;
  // Records at or past it were not indexed (beyond the dirty part the map covered): kept.
  Offset map_end;
  // Producer id -> the last offset of its last batch in the whole log: that batch is kept,
  // empty if need be, so the producer's last sequence survives.
  const std::unordered_map<std::int64_t, std::int64_t>* producer_last_offsets = nullptr;
  Timestamp now;
  std::int64_t delete_retention_ms = 0;
  // A compressed batch's records decompress within this (LogConfig::max_decompressed_bytes):
  // a batch on disk that passes it fails the pass, it does not make the cleaner allocate.
  std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
};

class CleanedSegmentWriter;

// Filters one batch at a time, keeping buffers across batches.
//
// Thread-safety: one thread at a time.
class BatchFilter {
 public:
  explicit BatchFilter(const RetentionRule& rule);
  ~BatchFilter();
  BatchFilter(const BatchFilter&) = delete;
  BatchFilter& operator=(const BatchFilter&) = delete;

  // Writes what stays of `batch` (whose CRC was checked) to `out`: the batch itself when
  // every record stays and nothing changes, a rewritten batch with the records that stay,
  // an empty batch (no record stays, but it is its producer's last, or `keep_empty`), or
  // nothing.
  Status filter(const RecordBatchView& batch, bool keep_empty, CleanedSegmentWriter& out,
                CleanerStats& stats);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes a cleaned segment: "<base>.log.cleaned", ".index.cleaned", ".timeindex.cleaned",
// indexed by Kafka's rule (an entry once more than index_interval_bytes went in since the
// last one) as Segment::recover rebuilds them.
//
// Thread-safety: one thread at a time.
class CleanedSegmentWriter {
 public:
  CleanedSegmentWriter(Env& env, std::string dir, Offset base, const SegmentConfig& config,
                       std::size_t buffer_bytes);
  ~CleanedSegmentWriter();
  CleanedSegmentWriter(const CleanedSegmentWriter&) = delete;
  CleanedSegmentWriter& operator=(const CleanedSegmentWriter&) = delete;

  // Creates the three files (replacing leftovers of an earlier attempt).
  Status open();
  // Appends one whole batch. Its offsets must follow the previous batch's.
  Status append(ByteSpan batch, Offset last_offset, Timestamp max_timestamp);
  // Writes what is buffered, the final time index entry, trims the indexes, fsyncs the
  // three files and closes them.
  Status finish();
  // Removes the files (best effort: after a failure, or when the pass is abandoned).
  void remove_files();

  Offset base_offset() const { return base_; }
  std::uint64_t size_bytes() const { return size_; }
  // "<dir>/<base>.log" etc. with `suffix` appended (".cleaned", ".swap" or "").
  std::string log_path(std::string_view suffix) const;
  std::string index_path(std::string_view suffix) const;
  std::string time_index_path(std::string_view suffix) const;

 private:
  Status flush_buffer();
  void maybe_time_entry();

  Env& env_;
  std::string dir_;
  Offset base_;
  SegmentConfig config_;
  std::size_t buffer_bytes_;
  std::unique_ptr<File> log_;
  std::unique_ptr<OffsetIndex> index_;
  std::unique_ptr<TimeIndex> time_index_;
  std::vector<std::byte> buffer_;
  std::uint64_t size_ = 0;  // bytes appended, buffered ones included
  std::uint64_t bytes_since_index_entry_ = 0;
  Offset last_offset_ = Offset::none();
  Timestamp max_timestamp_ = Timestamp::none();
  Offset offset_of_max_timestamp_ = Offset::none();
};

// One pass over one log, as the Cleaner plans it and the Log carries it out.
struct CompactionPass {
  CleanerConfig cleaner;
  Timestamp now;
  std::optional<Offset> upper_bound;
  // Filled by Log::Impl::plan_compaction: the whole log then, of which the first
  // `cleanable_segments` lie below the first uncleanable offset.
  std::shared_ptr<const std::vector<std::shared_ptr<Segment>>> snapshot;
  std::vector<std::uint64_t> sizes;  // of the snapshot's segments then
  std::size_t cleanable_segments = 0;
  CleanableRange range;
  // Filled by Log::Impl::build_offset_map.
  Offset map_end = Offset::none();
  std::unordered_map<std::int64_t, std::int64_t> producer_last_offsets;
  CleanerStats stats;
};

}  // namespace samsa::internal
