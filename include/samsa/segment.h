// Floor 4: one segment of a log: `<20-digit base offset>.log` holding whole record batches
// back to back, with its sparse `.index` and `.timeindex` (docs/FORMAT.md).
//
// A Segment appends batches that the Log has already validated and numbered, keeps Kafka's
// index rule (an index entry once more than index_interval_bytes were appended since the
// last one, checked before adding, so the first append is never indexed), finds the batch
// holding an offset (index lookup, then a forward scan of batch headers), and rescans itself
// on recovery.
//
// Descriptors: an active segment holds its three files open. A sealed one (after roll(), or
// opened with active = false) holds none of its own: its .log is opened on first use and
// kept in a bounded SegmentFileCache (segment_file_cache.h), its index entries live in memory
// and an index file is opened only to write it (recovery, truncation).
//
// Thread-safety: one writer (append, truncate_to, recover, roll, sync, close) and any number
// of concurrent readers (find_batch, read_at, find_offset_by_timestamp, accessors). Readers
// see only batches whose bytes are completely written (the size is published after the
// write) and never block the writer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "samsa/env.h"
#include "samsa/index.h"
#include "samsa/record_batch.h"
#include "samsa/segment_file_cache.h"
#include "samsa/types.h"

namespace samsa {

struct SegmentConfig {
  std::uint32_t index_interval_bytes = 4096;         // Kafka's index.interval.bytes
  std::uint32_t max_index_bytes = 10 * 1024 * 1024;  // Kafka's segment.index.bytes
  // Where a sealed segment's .log stays open between uses; null: the process default.
  SegmentFileCache* file_cache = nullptr;
};

// Where one batch lies in a segment, read from its header.
struct BatchLocation {
  Offset base_offset;
  Offset last_offset;
  Position position;
  std::uint32_t size_bytes = 0;
  Timestamp max_timestamp;
};

// What a rescan found.
struct SegmentRecovery {
  std::uint64_t valid_bytes = 0;      // bytes of whole, valid batches kept
  std::uint64_t truncated_bytes = 0;  // bytes cut after them
  std::int64_t batches = 0;
  Offset next_offset;  // one past the last valid batch (base offset when none)
  // Why the scan stopped early, when it did (corruption naming the file and position).
  Status stopped_by;
};

// "00000000000000000042" and the file names built from it.
std::string segment_file_prefix(Offset base_offset);
std::string log_file_name(Offset base_offset);           // "...42.log"
std::string offset_index_file_name(Offset base_offset);  // "...42.index"
std::string time_index_file_name(Offset base_offset);    // "...42.timeindex"
// The base offset a file name encodes ("00000000000000000042.log" -> 42), or nullopt.
std::optional<Offset> parse_segment_file_name(std::string_view name, std::string_view suffix);

class Segment {
 public:
  // Creates a new, empty segment. Fails with already_exists when its .log exists. Its index
  // files are preallocated (it is the active segment).
  static Result<std::unique_ptr<Segment>> create(Env& env, const std::string& dir,
                                                 Offset base_offset, const SegmentConfig& config);

  // Opens an existing segment's files as they are; indexes are loaded but not checked:
  // call sanity_check() or recover(). `active` preallocates the index files.
  static Result<std::unique_ptr<Segment>> open(Env& env, const std::string& dir, Offset base_offset,
                                               const SegmentConfig& config, bool active);

  ~Segment();

  Offset base_offset() const;
  // A copy: retention renames the file (.deleted) while readers may ask.
  std::string log_path() const;
  // Bytes of whole batches readers may read.
  std::uint64_t size_bytes() const;
  // One past the last offset appended; base_offset() when empty.
  Offset next_offset() const;
  bool empty() const { return size_bytes() == 0; }
  // The largest batch max timestamp seen, and the last offset of the batch that had it;
  // Timestamp::none() when no batch has a timestamp.
  TimestampOffset max_timestamp() const;
  // The max timestamp of the first batch (Kafka rolls on segment_ms from it), or none.
  Timestamp first_batch_timestamp() const;
  const OffsetIndex& offset_index() const;
  const TimeIndex& time_index() const;
  // The .log file, kept alive by the caller for zero-copy reads (sendfile) even after the
  // segment is deleted or its file is evicted from the cache. A sealed segment's file is
  // opened here when the cache does not hold it (hence the Result); after close() fails
  // with failed_precondition.
  Result<std::shared_ptr<File>> log_file() const;

  // Checks the indexes of a segment that recovery does not rescan (Kafka's sanity check),
  // and that the .log file is at least as long as the last index entry says.
  Status sanity_check() const;

  // Appends whole, validated, numbered batches [first_offset, last_offset]. `max_timestamp`
  // is their largest max timestamp and `offset_of_max_timestamp` the last offset of the
  // batch carrying it. Adds index entries by Kafka's rule. On a write error nothing is
  // published and the file is cut back to its previous size when possible.
  Status append(ByteSpan batches, Offset first_offset, Offset last_offset, Timestamp max_timestamp,
                Offset offset_of_max_timestamp);

  // The first batch whose last offset is >= target, at or after `start` (a position that
  // begins a batch, e.g. from the index); nullopt past the end.
  Result<std::optional<BatchLocation>> find_batch(Offset target,
                                                  Position start = Position(0)) const;

  // Calls `visit` for each batch from `start` (a batch start) in order, reading only headers,
  // until it returns false or the segment ends. A batch whose header does not fit the file
  // or is malformed is corruption naming the file and position.
  Status for_each_batch(Position start,
                        const std::function<bool(const BatchLocation&)>& visit) const;

  // Reads bytes of the .log file (never past size_bytes()).
  Result<std::size_t> read_at(Position position, MutableByteSpan out) const;

  // The first record whose timestamp is >= target with offset >= start_offset: its
  // timestamp and offset; nullopt when there is none in this segment. A compressed batch
  // searched decompresses within max_decompressed_bytes (the log's
  // LogConfig::max_decompressed_bytes()), else decompression_limit.
  Result<std::optional<TimestampOffset>> find_offset_by_timestamp(
      Timestamp target, Offset start_offset,
      std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes) const;

  // Rescans the .log file: checks every batch (header framing and CRC-32C), rebuilds both
  // indexes, and cuts the file after the last valid batch. Batches whose offsets do not
  // increase are invalid too. When the valid data ends below `keep_below` (data known to be
  // flushed), nothing is cut: the result is the corruption, naming file and position.
  Result<SegmentRecovery> recover(Offset keep_below = Offset::none());

  // Drops every batch whose last offset is >= offset (batch granularity, as Kafka): the
  // batch containing `offset` goes too. Returns the bytes removed.
  Result<std::uint64_t> truncate_to(Offset offset);

  // fdatasync of the .log file.
  Status sync();
  // Writes pending index entries and syncs the index files (an inactive segment's are also
  // trimmed to their entries).
  Status flush_indexes();
  // The segment stops being active: appends the final time index entry, trims both index
  // files to their entries, and syncs the .log and both indexes.
  Status roll();
  // roll() when still active, then closes the files. Idempotent.
  Status close();
  // Renames the three files to "<name>.deleted" (Kafka's async delete), or removes them.
  Status rename_to_deleted();
  Status remove_files();

 private:
  struct Impl;
  explicit Segment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace samsa
