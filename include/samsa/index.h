// Floor 4: the sparse indexes beside each segment, in Kafka's file formats (docs/FORMAT.md).
//
//   .index      8-byte entries: i32 offset relative to the segment's base, i32 byte position
//               of a batch in the .log file. Offsets and positions strictly increase.
//   .timeindex  12-byte entries: i64 timestamp, i32 relative offset. Timestamps strictly
//               increase.
//
// Entries live in memory; the file is written in bulk by flush() (no system call per
// entry). An active segment's index files are preallocated to max_index_bytes, as Kafka's
// are, and trimmed to their entries by trim(); a reopened file longer than its valid
// entries (a crash before the trim) fails sanity_check() and is rebuilt from the log.
//
// Thread-safety: one writer (append, truncate, flush, trim) and any number of concurrent
// readers (lookup, entries, entry): readers see a prefix of the entries, never a torn one,
// and never block the writer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "samsa/env.h"
#include "samsa/types.h"

namespace samsa {

struct OffsetPosition {
  Offset offset;
  Position position;
  friend bool operator==(const OffsetPosition&, const OffsetPosition&) = default;
};

struct TimestampOffset {
  Timestamp timestamp;
  Offset offset;
  friend bool operator==(const TimestampOffset&, const TimestampOffset&) = default;
};

namespace index_layout {
constexpr std::size_t kOffsetEntrySize = 8;  // i32 relative offset, i32 position
constexpr std::size_t kTimeEntrySize = 12;   // i64 timestamp, i32 relative offset
}  // namespace index_layout

// What the two index classes share: a bounded array of fixed-size entries in memory and a
// file that mirrors it. Entry is OffsetPosition or TimestampOffset.
template <typename Entry>
class SparseIndex {
 public:
  // Opens (or creates) the index file at `path` for a segment starting at `base_offset`.
  // Existing entries are read from the file: size / entry size of them, as Kafka does. When
  // `preallocate` (an active segment) the file is grown to max_index_bytes (rounded down
  // to whole entries) if it is smaller.
  static Result<std::unique_ptr<SparseIndex>> open(Env& env, const std::string& path,
                                                   Offset base_offset,
                                                   std::uint32_t max_index_bytes,
                                                   bool preallocate);
  ~SparseIndex();

  const std::string& path() const;
  Offset base_offset() const;
  std::size_t entries() const;
  std::size_t max_entries() const;
  bool full() const { return entries() >= max_entries(); }
  // Precondition: i < entries().
  Entry entry(std::size_t i) const;
  // The last entry, or nullopt when empty.
  std::optional<Entry> last() const;

  // Kafka's sanity check for a reopened index: the file holds whole entries, entries
  // strictly increase, and each offset is >= the base offset. Names the file and the entry.
  Status sanity_check() const;

  // Appends an entry. Precondition: not full(), and it strictly follows last() (offsets,
  // and positions or timestamps). Cheap: memory only until flush().
  void append(Entry entry);

  // OffsetPosition: the last entry whose offset <= target, or nullopt.
  // TimestampOffset: the first entry whose timestamp >= target, or nullopt.
  std::optional<Entry> lookup(Offset target) const
    requires std::is_same_v<Entry, OffsetPosition>;
  std::optional<Entry> lookup(Timestamp target) const
    requires std::is_same_v<Entry, TimestampOffset>;

  // Drops every entry whose offset >= `offset`.
  Status truncate_to(Offset offset);
  // Drops every entry.
  Status reset();

  // Writes entries not yet in the file and syncs it.
  Status flush();
  // flush(), then cuts the file to exactly its entries (at roll and close).
  Status trim();
  Status close();
  // Removes the file (the segment is gone).
  Status remove();

 private:
  struct Impl;
  explicit SparseIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using OffsetIndex = SparseIndex<OffsetPosition>;
using TimeIndex = SparseIndex<TimestampOffset>;

extern template class SparseIndex<OffsetPosition>;
extern template class SparseIndex<TimestampOffset>;

}  // namespace samsa
