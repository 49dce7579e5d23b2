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
// Thread-safety: one writer (append, truncate_to, reset, flush, trim, close, remove,
// rename_file) and any number of concurrent readers (lookup, first_at_or_after, entries,
// entry, last, sanity_check): readers see a prefix of the entries, never a torn one, and
// never block the writer. The exception is truncation: a reader racing truncate_to() or
// reset() may see entries being dropped, and, once the writer appends again, an entry of
// the new tail in place of a dropped one (no undefined behaviour, no freed memory, but no
// consistent answer either); the Log keeps readers out of a range it truncates. path()
// changes under rename_file() and is read by readers only when no rename can run.
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
  // Existing entries are read from the file: size / entry size of them, as Kafka does, but
  // at most max_entries() (a longer file fails sanity_check()). Nothing is checked here.
  // When `preallocate` (an active segment) the file is then grown to max_index_bytes
  // (rounded down to whole entries) if it is smaller; the zeros are not entries.
  static Result<std::unique_ptr<SparseIndex>> open(Env& env, const std::string& path,
                                                   Offset base_offset,
                                                   std::uint32_t max_index_bytes, bool preallocate);
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

  // Kafka's sanity check for a reopened index, made stricter: the file (its size when
  // opened, before any preallocation) holds whole entries and no more than max_entries();
  // entries strictly increase (offsets, and positions or timestamps); each offset is >= the
  // base offset. Zeros after the valid entries of an untrimmed file fail the "strictly
  // increase" rule. Names the file, the entry's index and its values.
  Status sanity_check() const;

  // Appends an entry. Precondition: not full(), and it strictly follows last() (offsets,
  // and positions or timestamps). Cheap: memory only until flush().
  void append(Entry entry);

  // OffsetPosition: the last entry whose offset <= target, or nullopt (start at position 0).
  // TimestampOffset: the last entry whose timestamp <= target, or nullopt (Kafka's
  // TimeIndex.lookup): records before its offset all have smaller timestamps, so a search
  // for the first record with timestamp >= target starts at its offset (at the segment's
  // base offset when nullopt).
  // clang-format 14 mangles requires-clauses:
  // clang-format off
  std::optional<Entry> lookup(Offset target) const
    requires std::is_same_v<Entry, OffsetPosition>;
  std::optional<Entry> lookup(Timestamp target) const
    requires std::is_same_v<Entry, TimestampOffset>;
  // The first entry whose timestamp >= target, or nullopt: the first record with timestamp
  // >= target is at or before its offset (an end for that search).
  std::optional<Entry> first_at_or_after(Timestamp target) const
    requires std::is_same_v<Entry, TimestampOffset>;
  // clang-format on

  // Drops every entry whose offset >= `offset`. Memory only: the next flush() rewrites the
  // file from the first dropped entry and zeros the dropped entries still in it, so a crash
  // before the next trim() leaves a file that fails sanity_check() rather than stale entries.
  Status truncate_to(Offset offset);
  // Drops every entry (memory only, as truncate_to).
  Status reset();

  // Writes the entries not yet in the file with one write, then syncs it (no system call
  // when nothing changed). After an error the entries stay pending and a later call
  // retries them.
  Status flush();
  // Writes pending entries, cuts the file to exactly its entries and syncs it (at roll and
  // close).
  Status trim();
  // Closes the file without writing anything (call trim() or flush() first); lookups keep
  // working from memory, flush() and trim() then fail. Idempotent.
  Status close();
  // Closes the file's handle but not the index: lookups work from memory and the next
  // flush() or trim() that has something to write reopens the file (a sealed segment holds
  // no descriptor for its indexes). Call trim() or flush() first. Idempotent.
  Status release_file();
  // close(), then removes the file (the segment is gone).
  Status remove();
  // Renames the file to `new_path` (e.g. "<name>.deleted"); the open handle keeps working,
  // as POSIX handles survive renames. Not durable until the directory is synced.
  Status rename_file(const std::string& new_path);

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
