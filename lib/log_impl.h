// Internal: the state of a Log, shared by log.cc (appends, reads, retention) and
// log_recovery.cc (open).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "group_commit.h"
#include "samsa/log.h"
#include "samsa/segment.h"
#include "strong_types.h"

namespace samsa {

namespace internal {
class BatchFilter;
class CleanedSegmentWriter;
class OffsetMap;
struct CompactionPass;
}  // namespace internal

using SegmentList = std::vector<std::shared_ptr<Segment>>;
// The (start, size) of each batch of one append, within its buffer.
using BatchSpans = std::vector<std::pair<std::size_t, std::size_t>>;

namespace internal {
// The first batch a read returns, in the caller's snapshot of the segments (which keeps
// `segment` alive), and the read's bound (exclusive).
struct ReadStart {
  const Segment* segment = nullptr;
  BatchLocation first;
  Offset bound;
};
}  // namespace internal

struct Log::Impl {
  Impl(Env& e, Clock& c) : env(e), clock(c) {}

  Env& env;
  Clock& clock;
  std::string dir;
  LogConfig config;
  LogOpenOptions options;
  SegmentConfig segment_config;
  std::unique_ptr<FileLock> dir_lock;
  RecoveryReport report;
  // At open: the checkpointed recovery point and log start (the offsets are set once the
  // segments are loaded).
  std::optional<Offset> checkpointed_recovery_point;
  Offset checkpointed_log_start;

  // Readers copy the list under the mutex (briefly) and then work on their copy; writers
  // build a new list and swap it in. Segments are shared so a reader's copy (and any
  // LogSlice) keeps files open even after the segment left the log.
  mutable std::mutex segments_mu;
  std::shared_ptr<const SegmentList> segments;

  // Invariant: log_start <= log_end; recovery_point <= log_end. Checked at every store
  // (store_log_start, store_log_end, publish_recovery_point): each moves under write_mu,
  // the recovery point also under sync_mu; a truncation lowers the recovery point and the
  // log start before the log end, an append raises the log end before the recovery point.
  internal::AtomicOffset log_start;
  internal::AtomicOffset log_end;
  internal::AtomicOffset recovery_point;
  void store_log_start(Offset start);  // write_mu held
  void store_log_end(Offset end);      // write_mu held
  void check_offsets() const;          // the invariant above, printing the values

  // One writer at a time: append, roll, truncate, retention, close.
  std::mutex write_mu;
  bool closed = false;  // guarded by write_mu

  // Group commit (log_group_commit.cc): one thread, the leader, writes the appends of the
  // appenders waiting under the durable policy and syncs for all of them. What it decides
  // is in `group_commit` (group_commit.h, pure); the mutex, the futex and the I/O are here.
  // Lock order: write_mu before sync_mu, never the other way.
  mutable std::mutex sync_mu;
  // An append under the durable policy that found write_mu busy: the leader writes it.
  struct WriteRequest {
    MutableByteSpan batches;
    const BatchSpans* spans;
    std::int64_t records;
    const AppendOptions* options;
    AppendInfo info;  // set by the leader when written
  };
  // An appender waiting in commit(), on its own stack. It sleeps on `sync_epoch` until the
  // leader sets its `state` (the leader's last touch of it, release), then reads its result.
  struct SyncWaiter : internal::CommitWaiter {
    static constexpr std::uint32_t kWaiting = 0, kDone = 1, kLead = 2;
    WriteRequest* write = nullptr;  // the append the leader writes, if any
    std::atomic<std::uint32_t> state{kWaiting};
  };
  internal::GroupCommit group_commit;        // guarded by sync_mu
  std::atomic<std::uint32_t> sync_epoch{0};  // waiters sleep on it; bumped to wake them
  // Counts truncations (changed under write_mu and sync_mu): a sync that a truncation
  // overlapped does not move the recovery point.
  std::atomic<std::uint64_t> truncations{0};
  std::int64_t last_sync_ns = 0;      // the last fdatasync's duration (guarded by sync_mu)
  std::condition_variable gather_cv;  // the leader waits on it for its group
  Status failure;  // set once, on the first write or fsync error (guarded by sync_mu)
  std::atomic<bool> failed{false};

  // Tailing readers wait here for the log end to move.
  mutable std::mutex data_mu;
  mutable std::condition_variable data_cv;

  // Called under write_mu at each roll (Log::set_roll_listener).
  std::function<void(Offset)> roll_listener;

  // Interval flush policy (guarded by write_mu).
  std::uint64_t unflushed_bytes = 0;
  // When the active segment was created (wall clock), for segment_ms without timestamps.
  std::int64_t active_created_ms = 0;
  std::int64_t last_flush_ns = 0;

  // Files renamed .deleted, removed once their time comes (guarded by write_mu).
  struct PendingDelete {
    std::shared_ptr<Segment> segment;
    std::int64_t remove_after_ms;
  };
  std::vector<PendingDelete> pending_deletes;
  // Compaction: segments a cleaned segment replaced under their own name, their files
  // already removed (a later .deleted of that name must not meet them), kept open for
  // readers until file_delete_delay_ms passes (guarded by write_mu).
  std::vector<PendingDelete> retired_segments;

  std::shared_ptr<const SegmentList> snapshot() const {
    std::lock_guard lock_guard(segments_mu);
    return segments;
  }
  void publish(SegmentList list) {
    auto shared = std::make_shared<const SegmentList>(std::move(list));
    std::lock_guard lock_guard(segments_mu);
    segments = std::move(shared);
  }
  const std::shared_ptr<Segment>& active() const { return segments->back(); }  // write_mu held
  // Where a read at `offset` stops (exclusive): the lower of read_options.max_offset and the log
  // end, loaded once. out_of_range outside [log start, log end].
  Result<Offset> read_bound(Offset offset, const ReadOptions& read_options) const;
  // The start Log::read and Log::read_into share; nullopt when nothing is to be read (offset
  // at the bound, no batch at or after it, or the first alone over max_bytes without
  // min_one_batch).
  Result<std::optional<internal::ReadStart>> read_start(const SegmentList& segs, Offset offset,
                                                        const ReadOptions& read_options) const;

  std::string path(std::string_view name) const { return join_path(dir, name); }
  Status write_checkpoints();
  Status fail(Status s);                 // records the first failure (fail-stop), completes waiters
  void record_failure(const Status& s);  // sync_mu held: the first failure only
  Status check_writable() const;         // write_mu held
  Status roll(Offset new_base);          // write_mu held
  Status maybe_roll(std::uint64_t incoming_bytes, Offset last_offset, Timestamp max_ts);
  // Group commit up to `target`, read when `truncations` was `generation`; no lock held.
  Status sync_to(Offset target, std::uint64_t generation);
  // Group commit of `write` (durable policy) or, without one, a sync up to `target`.
  Status commit(WriteRequest* write, Offset target, std::uint64_t generation);
  // sync_mu held: the leader's part of commit; returns with sync_mu released.
  Status lead(std::unique_lock<std::mutex>& lock, SyncWaiter& me);
  // One leader round: writes `writes` under write_mu, then syncs the active segment (no
  // lock held).
  internal::RoundResult write_and_sync(const std::vector<internal::CommitWaiter*>& writes,
                                       std::int64_t& sync_ns);
  void gather_group(std::unique_lock<std::mutex>& lock);
  void wake(const internal::Wakes& wakes);  // without sync_mu
  // The log was truncated to `end` (write_mu held; takes sync_mu): the recovery point drops
  // to it, waiters it cut fail.
  void note_truncation(Offset end);
  std::optional<Status> failure_if_failed() const;  // sync_mu held
  void publish_recovery_point();                    // sync_mu held: from `group_commit`
  // The part of Log::append after validation: takes write_mu, then syncs per the policy.
  Result<AppendInfo> append_validated(MutableByteSpan batches, const BatchSpans& spans,
                                      std::int64_t records, const AppendOptions& request);
  Result<AppendInfo> write_locked(MutableByteSpan batches, const BatchSpans& spans,
                                  std::int64_t records, const AppendOptions& request);
  Status delete_segment(const std::shared_ptr<Segment>& segment);  // write_mu held
  // truncate_to's work (write_mu held); `fully`: every segment goes, the log restarts empty
  // at `offset` (also past its end).
  Status truncate_locked(Offset offset, bool fully);
  void notify_data();

  // Open and recovery (log_recovery.cc).
  Status open();
  Status resolve_leftover_files(std::vector<std::string>& names);
  Status load_segments(const std::vector<std::string>& names, bool clean);
  // One segment of load_segments, rescanned or its indexes rebuilt as needed; `next_base`
  // is the next segment's base (none for the last); sets `cut` when its tail was cut.
  Result<std::shared_ptr<Segment>> load_segment(Offset base, std::optional<Offset> next_base,
                                                bool clean, bool& cut);
  Status rescan_segment(Segment& seg, bool rebuild_only, Offset keep_below, bool& cut);
  Status remove_segment_files(Offset base);  // a segment after a cut one
  // A segment whose batches claim offsets at or past `limit`: corruption, or cut there.
  Status cut_overlap(Segment& seg, Offset limit, bool& cut);

  // Compaction (log_compaction.cc), driven by the Cleaner (cleaner.h). A pass runs without
  // write_mu, on a snapshot of the segments; only swap_in_cleaned() takes it.
  Status check_cleanable();  // not closed, not fail-stopped
  // The cleanable range from the cleaner checkpoint, the segments and the time.
  Status plan_compaction(internal::CompactionPass& pass) const;
  // Indexes the dirty part into `map` until it fills; sets the map's end and the last batch
  // of every producer.
  Status build_offset_map(internal::CompactionPass& pass, internal::OffsetMap& map) const;
  Result<bool> index_dirty_part(internal::CompactionPass& pass, internal::OffsetMap& map) const;
  // Rewrites the segments below the map's end, group by group, swapping each cleaned
  // segment in. False when the log changed meanwhile and the pass stopped.
  Result<bool> clean_segments(internal::CompactionPass& pass, const internal::OffsetMap& map);
  Result<bool> clean_group(const SegmentList& group, internal::BatchFilter& filter,
                           internal::CompactionPass& pass);
  // Kafka's replaceSegments: .cleaned -> .swap, old -> .deleted, .swap -> final names, the
  // directory fsync'd after each step. False (files dropped) when `group` is no longer
  // this log's segments as they were (sizes) when cleaned.
  Result<bool> swap_in_cleaned(const SegmentList& group, const std::vector<std::uint64_t>& sizes,
                               internal::CleanedSegmentWriter& cleaned,
                               internal::CompactionPass& pass);
  // Where `segs` (consecutive, at `sizes`) start in the segment list, when they are all
  // still there as they were and the active segment is not one of them (write_mu held).
  std::optional<std::size_t> find_unchanged(std::span<const std::shared_ptr<Segment>> segs,
                                            std::span<const std::uint64_t> sizes) const;
  // Takes write_mu: the log failed or closed, or `segs` are no longer as they were.
  bool segments_changed(std::span<const std::shared_ptr<Segment>> segs,
                        std::span<const std::uint64_t> sizes);
  Status retire_replaced(const SegmentList& group);  // write_mu held
  Result<std::optional<Offset>> read_cleaner_checkpoint() const;
  Status write_cleaner_checkpoint(Offset first_dirty);
};

}  // namespace samsa
