// The Cleaner: log compaction, Kafka's LogCleaner. For a log whose cleanup policy includes
// "compact", it keeps the latest record of each key and drops the older ones, so the log
// shrinks to about one record per key while every reader still sees offsets in order.
//
// A cleaning pass over one log (Kafka's Cleaner.doClean):
//  1. The cleanable range: from the log start to the first uncleanable offset, the lowest
//     of the active segment's base, the first segment younger than min_compaction_lag_ms,
//     and a bound the host gives (the high watermark, the last stable offset), rounded
//     down to a segment base. Its part from the cleaner checkpoint on ("dirty") was never
//     cleaned; the part below it ("clean") was.
//  2. An offset map (Kafka's SkimpyOffsetMap), of bounded memory: XXH3-128 of each key of
//     the dirty part -> the key's last offset. When it fills first, the pass cleans only up
//     to where it got (the rest stays dirty for the next pass). The last batch of every
//     producer is noted on the way (a header scan covers the rest of the log).
//  3. Every segment below the map's end is rewritten, grouped into cleaned segments of at
//     most segment_bytes, keeping a record when it was not indexed (at or past the map's
//     end), or when it has a key and is the key's latest; a tombstone (null value) only until
//     its batch's delete horizon passes (the first pass that keeps it sets the horizon to
//     now + delete_retention_ms). Records without a key are dropped; control batches are
//     kept as they are. Batches keep their base offset, producer fields, leader epoch, codec
//     and timestamp type; an emptied batch disappears unless it is the last batch of its
//     producer (kept empty, so idempotent producer state survives) or the last batch of the
//     group (kept empty, so a cleaned segment always ends where the segments it replaces
//     ended: crash recovery relies on it).
//  4. Each cleaned segment is written as <base>.log.cleaned (and .index.cleaned,
//     .timeindex.cleaned), flushed, and swapped in crash-safely: renamed .swap, the old
//     segments renamed .deleted (readers holding their files keep reading them until
//     file_delete_delay_ms passes; the first one, whose name the cleaned segment takes,
//     has its files removed at once so that no later .deleted of that name meets them),
//     .swap renamed to the final names, the directory fsync'd after each step. A crash at
//     any point reopens to the old segments or the new ones, never a mix; a crash between
//     two groups of a pass leaves the groups before it cleaned and the rest as they were.
//  5. The first dirty offset (the map's end) goes to `cleaner-offset-checkpoint` in the log
//     directory (Kafka's offset checkpoint format, docs/FORMAT.md).
//
// A failed pass marks that log uncleanable (Kafka's KIP-346): run_once() skips it from then
// on and reports it in uncleanable(); other logs are still cleaned. A Cleaner knows logs by
// their directory (Log::dir()), as Kafka knows partitions by name.
//
// Thread-safety: a Cleaner is used by one thread at a time (the host calls it; there are
// no threads inside). The logs it cleans stay fully usable meanwhile: appends, reads,
// retention and truncation run concurrently with a pass, which reads a snapshot of the
// segments and takes a log's write lock only to swap a cleaned segment in. A pass whose
// segments were deleted or truncated meanwhile drops its work (CleanResult::abandoned).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/clock.h"
#include "samsa/log.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

struct CleanerConfig {
  // Memory of the offset map (Kafka's log.cleaner.dedupe.buffer.size), never exceeded.
  // One slot is 24 bytes: a 16-byte hash of the key and an 8-byte offset. The map starts
  // at 1.5 MiB and grows with the keys of a pass; at its largest it holds as many keys as
  // Kafka's fixed map of this size (5.0 M for 128 MiB at load factor 0.9).
  std::uint64_t offset_map_bytes = std::uint64_t{128} << 20;
  // The map stops taking new keys past this fraction of its slots
  // (log.cleaner.io.buffer.load.factor).
  double offset_map_load_factor = 0.9;
  // Bytes read from a segment, and written to a cleaned one, per system call.
  std::size_t io_buffer_bytes = std::size_t{1} << 20;
};

// Name of the cleaner checkpoint inside a log directory (Kafka keeps it one level up).
inline constexpr std::string_view kCleanerCheckpointFile = "cleaner-offset-checkpoint";

// What one pass did (Kafka's CleanerStats).
struct CleanerStats {
  std::uint64_t bytes_read = 0;      // segment bytes read, building the map and cleaning
  std::uint64_t map_bytes_read = 0;  // of bytes_read, building the offset map
  std::uint64_t bytes_written = 0;   // bytes of the cleaned segments
  std::int64_t records_read = 0;     // records the cleaning examined (control records aside)
  std::int64_t records_kept = 0;
  std::int64_t records_removed = 0;     // superseded, keyless, or tombstones past the horizon
  std::int64_t tombstones_removed = 0;  // of records_removed: past their delete horizon
  std::int64_t keyless_removed = 0;     // of records_removed: no key
  std::int64_t batches_copied = 0;      // every record kept: copied byte for byte
  std::int64_t batches_rewritten = 0;   // some records removed, or the delete horizon set
  std::int64_t batches_removed = 0;     // no record left
  std::int64_t empty_batches_kept = 0;  // no record left, kept for producer state or the end
  std::int64_t segments_cleaned = 0;    // old segments replaced
  std::int64_t segments_written = 0;    // cleaned segments swapped in
  std::int64_t map_records = 0;         // keyed records indexed into the offset map
  std::int64_t map_entries = 0;         // distinct keys in the map
  std::int64_t map_slots = 0;
  double map_fill = 0;                      // map_entries / map_slots (Kafka's buffer utilization)
  bool map_full = false;                    // the map filled before the dirty part was all indexed
  std::chrono::nanoseconds map_elapsed{0};  // building the offset map
  std::chrono::nanoseconds elapsed{0};      // the whole pass
};

// Where a log stands for the cleaner (Kafka's LogToClean).
struct CleanableRange {
  Offset first_dirty_offset;          // the checkpoint, or the log start when it is unusable
  Offset first_uncleanable_offset;    // a segment base: nothing from here on is cleaned yet
  std::uint64_t clean_bytes = 0;      // segments below the first dirty offset
  std::uint64_t cleanable_bytes = 0;  // dirty segments below the first uncleanable offset
  double dirty_ratio = 0;             // cleanable / (clean + cleanable); 0 when both are 0
  // A dirty segment's first batch is older than max_compaction_lag_ms.
  bool max_lag_exceeded = false;
  // What run_once() asks: dirty_ratio > min_cleanable_dirty_ratio, or the max lag passed
  // and something is cleanable.
  bool needs_cleaning = false;
};

struct CleanResult {
  CleanableRange range;  // as found when the pass started
  // False: nothing lies below the first uncleanable offset (the stats are zero).
  bool cleaned = false;
  // The first dirty offset after the pass (checkpointed): where the offset map ended.
  Offset cleaned_up_to = Offset::none();
  // The log's segments changed under the pass (retention, truncation, a failed log): the
  // cleaned files not yet swapped in were dropped and the checkpoint was not moved.
  bool abandoned = false;
  CleanerStats stats;
};

// A log run_once() no longer cleans, and why (Kafka's uncleanable partitions, KIP-346).
struct UncleanableLog {
  std::string dir;
  Status error;
};

struct CleanTarget {
  Log* log = nullptr;
  // Offsets from here on are not cleaned (e.g. the high watermark or last stable offset).
  std::optional<Offset> upper_bound;
};

struct CleanerRun {
  Log* cleaned_log = nullptr;  // the log this run cleaned; nullptr when none needed it
  CleanResult result;          // valid when cleaned_log is set
  // Logs whose pass (or whose look at the checkpoint) failed during this run: now
  // uncleanable.
  std::vector<UncleanableLog> failed;
  std::int64_t logs_checked = 0;  // compacted logs looked at (uncleanable ones skipped)
  double dirtiest_ratio = 0;      // the highest dirty ratio among them
};

class Cleaner {
 public:
  // `clock` must outlive the Cleaner. It gives "now" for the compaction lags and delete
  // horizons; use the clock the logs use.
  explicit Cleaner(CleanerConfig config = {}, Clock& clock = SystemClock::instance());
  ~Cleaner();
  Cleaner(const Cleaner&) = delete;
  Cleaner& operator=(const Cleaner&) = delete;

  const CleanerConfig& config() const;

  // Where `log` stands: its cleanable range, dirty ratio and whether it needs cleaning.
  Result<CleanableRange> cleanable_range(const Log& log,
                                         std::optional<Offset> upper_bound = std::nullopt) const;

  // One pass over `log` now, whatever its dirty ratio (it need not pass
  // min_cleanable_dirty_ratio): what `samsa compact` and tests call. invalid_argument when
  // the log's cleanup policy does not include compact. An error marks the log uncleanable;
  // a success clears that mark.
  Result<CleanResult> clean(Log& log, std::optional<Offset> upper_bound = std::nullopt);

  // What a host's cleaner thread calls in a loop: among the compacted logs not marked
  // uncleanable, those that need cleaning are tried dirtiest first until one pass succeeds
  // (one cleaned log per run, as one Kafka cleaner thread does); a log whose pass fails is
  // marked uncleanable and the next one is tried.
  CleanerRun run_once(std::span<Log* const> logs);
  CleanerRun run_once(std::span<const CleanTarget> targets);

  // The logs marked uncleanable, with the error that marked them.
  std::vector<UncleanableLog> uncleanable() const;
  // Lets run_once() try that log (by its directory) again.
  void clear_uncleanable(const std::string& dir);

 private:
  struct Impl;
  // The Log's internals (Cleaner is Log's friend): only the Cleaner's own members name them.
  static Log::Impl& log_impl(Log& log);
  static const Log::Impl& log_impl(const Log& log);
  Result<CleanResult> clean_pass(Log& log, std::optional<Offset> upper_bound);
  std::unique_ptr<Impl> impl_;
};

}  // namespace samsa
