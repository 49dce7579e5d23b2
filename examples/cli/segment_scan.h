// Read-only access to a log directory's files for `samsa dump` and `samsa verify`: they
// must never modify a log, so they do not open a Log (which would recover and truncate it)
// and read the .log, .index and .timeindex files through Env::posix() directly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "samsa/env.h"
#include "samsa/index.h"
#include "samsa/record_batch.h"
#include "samsa/types.h"

namespace samsa::cli {

struct SegmentFiles {
  Offset base_offset;
  std::string log_path;
  std::string index_path;
  std::string time_index_path;
};

struct DirListing {
  std::vector<SegmentFiles> segments;  // by base offset
  // .index / .timeindex files without a .log beside them.
  std::vector<std::string> orphan_indexes;
  // Everything else (lock, checkpoints, .deleted / .cleaned / .swap leftovers...).
  std::vector<std::string> other_files;
};

Result<DirListing> list_log_dir(Env& env, const std::string& dir);

// Walks the batches of one .log file in order, reading it in windows (not all at once).
//
// Thread-safety: one thread at a time.
class BatchScanner {
 public:
  static Result<std::unique_ptr<BatchScanner>> open(Env& env, const std::string& path);

  const std::string& path() const { return path_; }
  std::uint64_t file_size() const { return size_; }
  // Where the next batch starts.
  std::uint64_t position() const { return position_; }

  // The next batch, its header framing checked (RecordBatchView::parse: not the CRC or the
  // records); nullopt at the end of the file. The view is valid until the next call. An
  // error (a torn or corrupt batch, naming the file and position) ends the scan: the
  // batch's length cannot be trusted, so where the next one starts is unknown.
  Result<std::optional<RecordBatchView>> next();

 private:
  BatchScanner(std::unique_ptr<File> file, std::uint64_t size);
  // Makes the file's bytes [position_, position_ + n) available in the window.
  Status load(std::size_t n);
  ByteSpan window(std::size_t n) const;

  std::unique_ptr<File> file_;
  std::string path_;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
  std::vector<std::byte> buffer_;
  std::uint64_t buffer_start_ = 0;  // the file position of buffer_[0]
  std::size_t buffer_bytes_ = 0;    // valid bytes in buffer_
};

// What an index check needs to know of each batch of a segment, in file order.
struct BatchSummary {
  std::uint64_t position = 0;
  std::uint32_t size_bytes = 0;
  Offset base_offset;
  Offset last_offset;
  Timestamp max_timestamp;
  Timestamp max_timestamp_before;  // the largest max timestamp of the batches before it
};

// Appends `batch`'s summary, keeping max_timestamp_before.
void add_batch_summary(std::vector<BatchSummary>& batches, const RecordBatchView& batch);

// An index file's entries as stored, decoded by index.h's layout (big-endian).
template <typename Entry>
struct IndexFile {
  std::string path;
  std::uint64_t size_bytes = 0;
  std::vector<Entry> entries;  // without the zero-filled tail
  // All-zero entries at the end: the file was preallocated and not trimmed yet (an active
  // segment, or a log that was not closed cleanly). Kafka's open rebuilds such an index.
  std::size_t zero_tail_entries = 0;
  std::size_t partial_bytes = 0;  // bytes after the last whole entry
};
using OffsetIndexFile = IndexFile<OffsetPosition>;
using TimeIndexFile = IndexFile<TimestampOffset>;

// The index file at `path`, or nullopt when it does not exist.
Result<std::optional<OffsetIndexFile>> read_offset_index(Env& env, const std::string& path,
                                                         Offset base_offset);
Result<std::optional<TimeIndexFile>> read_time_index(Env& env, const std::string& path,
                                                     Offset base_offset);

// The verdict on one index entry against the segment's batches.
struct EntryVerdict {
  bool ok = true;
  std::string what;  // where it points when ok, the problem otherwise
};

// A .index entry (largest offset of an append, position where that append starts) must
// point at a batch start, with its offset in the batches from there on, and follow the
// previous entry.
EntryVerdict check_offset_entry(const OffsetPosition& entry, const OffsetPosition* previous,
                                const std::vector<BatchSummary>& batches);
// A .timeindex entry (max timestamp so far, an offset of the batch that carries it) must
// name an offset of the segment whose batch has that max timestamp, no earlier batch
// having reached it, and follow the previous entry.
EntryVerdict check_time_entry(const TimestampOffset& entry, const TimestampOffset* previous,
                              const std::vector<BatchSummary>& batches);

// "crc valid" or "crc INVALID (stored x computed y)".
std::string describe_crc(const RecordBatchView& batch);

}  // namespace samsa::cli
