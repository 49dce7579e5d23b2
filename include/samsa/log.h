// Floor 5: Log, one partition's ordered segments in a directory, stored exactly as Kafka
// stores a partition (docs/FORMAT.md): append, read, roll, flush and group commit,
// truncation, retention and crash recovery.
//
// Thread-safety: thread-safe. Appends (and the other writes: truncate_to,
// delete_records_before, flush, apply_retention, close) run one at a time; any number of
// threads may read concurrently with them. Readers never block an appender and never see a
// batch that is not completely written.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "samsa/clock.h"
#include "samsa/env.h"
#include "samsa/index.h"
#include "samsa/record_batch.h"
#include "samsa/segment_file_cache.h"
#include "samsa/types.h"

namespace samsa {

// When an append's bytes reach the disk. The weaker policies are named for what they risk.
enum class FlushPolicy : std::uint8_t {
  // The default: append() returns after fdatasync. Concurrent appenders share one
  // fdatasync (group commit). Nothing acknowledged is lost to a crash or a power cut.
  durable,
  // fdatasync once flush_interval_bytes or flush_interval_ms have passed since the last
  // one. A power cut (not a process crash) may lose up to that much acknowledged data.
  interval_may_lose_recent,
  // fdatasync only in flush() and close(). A power cut may lose everything acknowledged
  // since the last flush().
  manual_may_lose_unflushed,
};
std::string_view to_string(FlushPolicy policy);

// Kafka's cleanup.policy: "delete" (retention by time and size), "compact" (the Cleaner
// keeps the latest record per key), or both ("compact,delete").
struct CleanupPolicy {
  bool delete_old = true;
  bool compact = false;
  // Accepts "delete", "compact", "compact,delete" and "delete,compact".
  static Result<CleanupPolicy> parse(std::string_view text);
  std::string to_string() const;  // "delete", "compact" or "compact,delete"
  friend bool operator==(const CleanupPolicy&, const CleanupPolicy&) = default;
};

struct LogConfig {
  std::uint64_t segment_bytes = std::uint64_t{1} << 30;  // Kafka's segment.bytes
  std::int64_t segment_ms = 7LL * 24 * 3600 * 1000;      // segment.ms
  std::uint32_t index_interval_bytes = 4096;             // index.interval.bytes
  std::uint32_t segment_index_bytes = 10 * 1024 * 1024;  // segment.index.bytes
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;    // retention.ms; -1 = forever
  std::int64_t retention_bytes = -1;                     // retention.bytes; -1 = no limit
  std::int64_t file_delete_delay_ms = 60'000;            // file.delete.delay.ms
  std::uint32_t max_batch_bytes = 1'048'588;             // max.message.bytes
  // The records of a compressed batch may decompress to at most this many times
  // max_batch_bytes (max_decompressed_bytes()); past it the batch is refused with
  // decompression_limit, on append and on every in-process read (Cleaner, segment search).
  // Kafka's broker has no such bound (it decodes records as it decompresses); samsa
  // decompresses a batch whole, and this is what bounds the memory that takes.
  std::uint32_t decompressed_bytes_factor = kDefaultDecompressedBytesFactor;
  TimestampType timestamp_type = TimestampType::create_time;  // message.timestamp.type
  FlushPolicy flush_policy = FlushPolicy::durable;
  std::uint64_t flush_interval_bytes = 1 << 20;  // with interval_may_lose_recent
  std::int64_t flush_interval_ms = 1000;         // with interval_may_lose_recent
  // Compaction (the Cleaner; Kafka's topic configs of the same names).
  CleanupPolicy cleanup_policy;            // cleanup.policy
  double min_cleanable_dirty_ratio = 0.5;  // min.cleanable.dirty.ratio
  std::int64_t min_compaction_lag_ms = 0;  // min.compaction.lag.ms
  std::int64_t max_compaction_lag_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t delete_retention_ms = 86'400'000;  // delete.retention.ms (tombstones)
  // Names written in Kafka's checkpoint files ("topic partition offset"). Empty: taken
  // from the directory name when it reads "<topic>-<partition>", else (name, 0).
  std::string topic;
  std::int32_t partition = -1;
  // Where this log's sealed segments keep their .log files open between uses, bounded by
  // its open_segment_files_max (segment_file_cache.h); null: the process default, shared by
  // every log that names none. Not owned; must outlive the log.
  SegmentFileCache* segment_file_cache = nullptr;

  // decompressed_bytes_factor x max_batch_bytes: the ValidateOptions bound of this log.
  std::size_t max_decompressed_bytes() const {
    return std::size_t{decompressed_bytes_factor} * max_batch_bytes;
  }
};

// The topic and partition a Kafka partition directory is named for.
struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};
// Kafka's partition directory name "<topic>-<N>" ("orders-3"): the topic before the last
// '-' (not empty) and N, decimal digits from 0 to INT32_MAX. nullopt for any other name. The
// topic is not checked against Kafka's topic name rule (a host creating directories from
// names checks that).
std::optional<TopicPartition> parse_partition_dir_name(std::string_view name);

struct LogOpenOptions {
  // When recovery finds corruption in data that was known to be flushed (before the
  // recovery point), open fails naming the file and byte position, unless this is set:
  // then the log is cut there, losing that data and everything after it.
  bool truncate_corruption = false;
  // Rescan every segment, not only those after the recovery point (`samsa verify`).
  bool rescan_all = false;
};

// What open() did to make the log consistent.
struct RecoveryReport {
  bool clean_shutdown = false;
  std::int64_t segments_rescanned = 0;  // every segment read batch by batch (indexes rebuilt)
  std::uint64_t bytes_rescanned = 0;
  std::uint64_t bytes_truncated = 0;  // torn tail (and corrupt data, when allowed) cut
  std::int64_t segments_removed = 0;  // whole segments after a cut
  // Of the segments rescanned, those the recovery point vouched for but whose index files
  // were missing or failed the sanity check.
  std::int64_t indexes_rebuilt = 0;
  std::vector<std::string> files_resolved;  // leftover .deleted / .cleaned / .swap / .tmp
  // The first offset recovery read batch by batch (the base of the first segment rescanned;
  // the log end when nothing was): state kept beside the log (leader epochs, producers)
  // must be rebuilt from here.
  Offset rescanned_from = Offset::none();
  std::vector<std::string> notes;  // what was cut and why, for people
};

struct AppendInfo {
  Offset first_offset;
  Offset last_offset;
  // The log append time stamped on the batches (log_append_time logs), else none.
  Timestamp log_append_time = Timestamp::none();
  Offset segment_base_offset;
  Position position;  // where the first batch starts in that segment's .log
  std::uint64_t bytes = 0;
  std::int32_t batches = 0;
  std::int64_t records = 0;
};

// Lets the owner of a Log (a Partition) check and record per-batch state atomically with
// an append. Both calls run with the log's write lock held, so appends reach a hook in
// offset order.
class AppendHook {
 public:
  virtual ~AppendHook() = default;
  // After validation and offset assignment, before the write; `batches` view the stamped
  // bytes. A non-ok status refuses the whole append: nothing is written, and append()
  // returns that status.
  virtual Status before_write(std::span<const RecordBatchView> batches) = 0;
  // After the write succeeded, before append() waits for durability. `next_offset` is the
  // new log end.
  virtual void after_write(std::span<const RecordBatchView> batches, Offset next_offset) = 0;
};

struct AppendOptions {
  LeaderEpoch leader_epoch = LeaderEpoch::none();  // stamped on every batch
  // Validate as a producer's batches (offset deltas exactly 0..n-1). False for batches
  // copied from another log (replication, compaction).
  bool producer_batches = true;
  // True: a leader's append (Kafka's validateAndAssignOffsets). Offsets are assigned from
  // the log end and, in a create_time log, each batch's max timestamp is set to the largest
  // of its records' timestamps when the header says otherwise (CRC recomputed), as Kafka's
  // LogValidator does. False: keep the batches' own base offsets and bytes (a follower
  // copying a leader's batches, which compaction may have left with gaps between them):
  // they must increase and start at or after the log end, else invalid_argument.
  bool assign_offsets = true;
  AppendHook* hook = nullptr;  // must outlive the call
};

// A range of one segment's .log file holding whole batches. The file stays readable while
// the slice lives, even after the segment is deleted.
struct LogSlice {
  Offset first_offset = Offset::none();  // base offset of the first batch; none when empty
  Offset next_offset = Offset::none();   // one past the last batch's last offset
  std::shared_ptr<File> file;
  Position position;
  std::uint64_t size_bytes = 0;
  bool empty() const { return size_bytes == 0; }
  // Appends the slice's bytes to `out`.
  Status read_into(std::vector<std::byte>& out) const;
  // Reads the slice's bytes into the first size_bytes of `out` (invalid_argument when it is
  // smaller): for a reader that reuses one buffer, which a std::vector would zero first.
  Status read_into(MutableByteSpan out) const;
};

struct ReadOptions {
  std::uint64_t max_bytes = 1 << 20;
  // Exclusive upper bound on the offsets returned (e.g. a high watermark): only batches
  // whose last offset is below it. Default: the log end offset.
  std::optional<Offset> max_offset;
  // Return the first batch even when it is larger than max_bytes (Kafka's KIP-74).
  bool min_one_batch = true;
};

// What Log::read_into put at the start of the caller's buffer: whole batches of one segment,
// laid end to end. Bytes of the buffer past size_bytes are garbage.
struct LogRead {
  Offset first_offset = Offset::none();  // base offset of the first batch; none when nothing
  Offset next_offset = Offset::none();   // one past the last batch's last offset
  std::size_t size_bytes = 0;            // whole batches at the start of the buffer (<= its size)
  // When size_bytes == 0 because the first batch is larger than the buffer: its size (read
  // again with a buffer at least this large). 0 otherwise.
  std::size_t needed_bytes = 0;
};

// Kafka's ListOffsets sentinels for offset_for_timestamp().
inline constexpr Timestamp kLatestTimestamp{-1};
inline constexpr Timestamp kEarliestTimestamp{-2};

struct SegmentInfo {
  Offset base_offset;
  Offset next_offset;
  std::uint64_t size_bytes = 0;
  TimestampOffset max_timestamp;
  std::string path;
};

struct RetentionReport {
  std::int64_t segments_deleted = 0;
  std::uint64_t bytes_deleted = 0;
  std::int64_t files_removed = 0;  // .deleted files past file_delete_delay_ms
  Offset log_start_offset;
};

class Log {
 public:
  // Opens (creating when needed) the log in `dir`, takes its lock, and recovers it.
  // `env` and `clock` must outlive the Log.
  static Result<std::unique_ptr<Log>> open(Env& env, const std::string& dir, LogConfig config,
                                           Clock& clock = SystemClock::instance(),
                                           LogOpenOptions options = {});
  ~Log();  // close(), ignoring errors

  const RecoveryReport& recovery_report() const;

  // Appends one or more batches laid end to end in `batches` (e.g. a produce request):
  // validates each (framing, CRC, records, size <= max_batch_bytes), assigns offsets by
  // rewriting base offset and leader epoch in place (outside the CRC) and, when
  // options.assign_offsets, sets the max timestamp as Kafka's leader does (log_append_time
  // logs: the append time; create_time logs: the records' largest, only where the header
  // is wrong; the CRC recomputed either way), writes them in one write and
  // returns once they are durable under the flush policy. Under the durable policy
  // concurrent appends are written together by one thread and share one fdatasync (group
  // commit); an append hook runs on that thread. An append whose records a concurrent
  // truncate_to removed before its fdatasync finished fails with failed_precondition
  // (never an acknowledgement of records that are gone).
  Result<AppendInfo> append(MutableByteSpan batches, const AppendOptions& options = {});

  // The in-process path: builds the builder's batch at the next offset and appends it
  // without re-validating what samsa itself just encoded.
  Result<AppendInfo> append(RecordBatchBuilder& builder, const AppendOptions& options = {});

  // Whole batches from the one containing `offset`, within one segment. Empty at the log
  // end; out_of_range before the log start or past the log end.
  Result<LogSlice> read(Offset offset, const ReadOptions& options = {}) const;

  // The batches read() returns for `offset` and `options` (or as many whole ones of them
  // as fit `buffer`), read into `buffer` with one read of the file, for a reader that
  // copies rather than sends a file range: read() walks the batch headers with reads of
  // their own before the slice is read again. The headers are checked in memory (framing;
  // offsets increasing within the segment), a bad one being corruption naming the file and
  // position; CRCs are not checked, as with read(). When the first batch does not fit
  // `buffer`, nothing is returned and needed_bytes says its size. Empty at the log end;
  // out_of_range before the log start or past the log end.
  Result<LogRead> read_into(Offset offset, MutableByteSpan buffer,
                            const ReadOptions& options = {}) const;

  // Waits until the log end offset passes `offset` (data at `offset` exists) or `timeout`
  // passes; returns whether data exists. What a long-poll fetch needs.
  bool wait_for_data(Offset offset, std::chrono::milliseconds timeout) const;

  // Kafka's ListOffsets: kEarliestTimestamp -> the log start offset, kLatestTimestamp ->
  // the log end offset, otherwise the first record whose timestamp is >= ts (nullopt if
  // none). The timestamp is none for the sentinels.
  Result<std::optional<TimestampOffset>> offset_for_timestamp(Timestamp ts) const;

  // Drops every batch whose last offset is >= offset (replica divergence). Batch
  // granularity: the log end becomes the base offset of the batch holding `offset`. When
  // `offset` <= the log start, the log is emptied and restarts at `offset`.
  Status truncate_to(Offset offset);

  // Empties the log and restarts it at `offset`, also past its end (Kafka's
  // truncateFullyAndStartAt: a replica that loaded a snapshot ending there). Log start and
  // log end become `offset`; durable when it returns.
  Status truncate_fully_and_start_at(Offset offset);

  // Advances the log start offset (Kafka's DeleteRecords); segments wholly below it are
  // deleted by the next apply_retention(). out_of_range past the log end.
  Status delete_records_before(Offset offset);

  // fdatasync of everything appended, and the recovery point checkpoint.
  Status flush();

  // Returns once every batch below `end` is durable (fdatasync, shared with concurrent
  // appenders: group commit). What an acknowledgement of already-written data waits for.
  // failed_precondition when a concurrent truncate_to cut below `end` meanwhile.
  Status sync_to(Offset end);

  // Called with the write lock held each time the log rolls a new segment, with its base
  // offset (Kafka snapshots producer state at roll). Set before appending; not thread-safe
  // against concurrent writes.
  void set_roll_listener(std::function<void(Offset new_base)> listener);

  // Background work the host calls (no hidden threads): deletes whole segments below the
  // log start offset, past retention_bytes or older than retention_ms (never the active
  // one, and only segments wholly below `upper_bound`, e.g. the high watermark), renaming
  // them .deleted; removes .deleted files older than file_delete_delay_ms; applies the
  // interval flush policy; rolls a segment older than segment_ms.
  Result<RetentionReport> apply_retention(std::optional<Offset> upper_bound = std::nullopt);

  // Flushes, writes the checkpoints and the clean-shutdown marker, releases the lock.
  // Later calls fail with failed_precondition. Idempotent.
  Status close();

  const std::string& dir() const;
  const LogConfig& config() const;
  Offset log_start_offset() const;
  Offset log_end_offset() const;
  // Everything below this offset is known durable.
  Offset recovery_point() const;
  std::uint64_t size_bytes() const;
  std::vector<SegmentInfo> segments() const;
  // Set after a failed fsync (of a segment, a checkpoint or the directory), or a failed
  // write whose partial bytes could not be cut back: the log refuses writes until reopened.
  // A write that fails cleanly (e.g. ENOSPC, nothing left behind) fails only that append.
  Status failure() const;
  // Appends and sync_to() calls waiting on a group commit under the durable policy, the group's
  // leader among them: those queued behind the write lock, and those written and waiting for the
  // fdatasync. A gauge for a host's metrics, and what tests wait on to queue appenders in a known
  // order instead of sleeping.
  std::size_t waiting_for_sync() const;

 private:
  friend class Cleaner;
  struct Impl;
  explicit Log(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace samsa
