// Log compaction on a Log's internals, as the Cleaner (cleaner.h) drives it: the cleanable
// range, the offset map, rewriting groups of segments and Kafka's crash-safe swap.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "batch_scanner.h"
#include "checkpoint.h"
#include "compaction.h"
#include "log_impl.h"

namespace samsa {

using internal::BatchScanner;

namespace {

// The index of the segment holding `offset`: the last one whose base is <= offset (0 when
// the offset lies before them all).
std::size_t floor_segment(const SegmentList& segments, Offset offset) {
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](Offset o, const auto& s) { return o < s->base_offset(); });
  return it == segments.begin() ? 0 : static_cast<std::size_t>(it - segments.begin()) - 1;
}

// The next batch of a scan, whole; torn or corrupt bytes in a segment that is not being
// appended to are corruption.
enum class Crc : std::uint8_t { trusted, checked };
Result<std::optional<RecordBatchView>> next_batch(BatchScanner& scanner, Crc crc) {
  SAMSA_TRY_ASSIGN(auto step, scanner.next(BatchScanner::Read::whole_batch));
  if (step.kind == BatchScanner::Kind::end) return std::optional<RecordBatchView>();
  if (step.kind != BatchScanner::Kind::batch) return Status::corruption(step.why);
  SAMSA_TRY_ASSIGN(auto view, RecordBatchView::parse(step.bytes, step.location.position.value()));
  if (crc == Crc::checked) SAMSA_TRY(view.check_crc());
  return std::optional<RecordBatchView>(view);
}

// A scan of [from, to) of a segment's .log. Segment::log_path() is not read: retention may
// rename the segment (under write_mu, which a pass does not hold) while the pass reads it.
// The scanner holds the file open: the SegmentFileCache may evict it during the pass.
Result<BatchScanner> scan(const std::string& dir, const Segment& seg, std::uint64_t from,
                          std::uint64_t to, std::size_t buffer_bytes) {
  SAMSA_TRY_ASSIGN(std::shared_ptr<const File> file, seg.log_file());
  return BatchScanner(std::move(file), from, to, join_path(dir, log_file_name(seg.base_offset())),
                      buffer_bytes);
}

// Records the last batch of every producer among the batches of [from, to) of `seg`.
Status scan_producers(const std::string& dir, const Segment& seg, std::uint64_t from,
                      std::uint64_t to, std::size_t buffer_bytes,
                      std::unordered_map<std::int64_t, std::int64_t>& last_offsets) {
  SAMSA_TRY_ASSIGN(BatchScanner scanner, scan(dir, seg, from, to, buffer_bytes));
  // Each step consumes a whole batch: at most (to - from) / header size steps.
  for (;;) {
    SAMSA_TRY_ASSIGN(auto batch, next_batch(scanner, Crc::trusted));
    if (!batch) return Status();
    if (batch->producer_id() != ProducerId::none()) {
      last_offsets[batch->producer_id().value()] = batch->last_offset().value();
    }
  }
}

// Kafka's groupSegmentsBySize: consecutive segments whose sizes (and index sizes) add up to
// at most one segment's limits and whose offsets fit a 32-bit index relative to the first.
std::vector<SegmentList> group_by_size(const SegmentList& segments, const LogConfig& config) {
  std::vector<SegmentList> groups;
  for (std::size_t i = 0; i < segments.size();) {
    SegmentList group = {segments[i]};
    std::uint64_t bytes = segments[i]->size_bytes();
    std::uint64_t index_bytes =
        segments[i]->offset_index().entries() * index_layout::kOffsetEntrySize;
    std::uint64_t time_bytes = segments[i]->time_index().entries() * index_layout::kTimeEntrySize;
    const Offset base = segments[i]->base_offset();
    for (++i; i < segments.size(); ++i) {
      const Segment& next = *segments[i];
      const std::uint64_t next_index =
          next.offset_index().entries() * index_layout::kOffsetEntrySize;
      const std::uint64_t next_time = next.time_index().entries() * index_layout::kTimeEntrySize;
      const bool fits = bytes + next.size_bytes() <= config.segment_bytes &&
                        index_bytes + next_index <= config.segment_index_bytes &&
                        time_bytes + next_time <= config.segment_index_bytes &&
                        (next.empty() || next.next_offset() - 1 - base <= INT32_MAX);
      if (!fits) break;
      group.push_back(segments[i]);
      bytes += next.size_bytes();
      index_bytes += next_index;
      time_bytes += next_time;
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

}  // namespace

Status Log::Impl::check_cleanable() {
  std::lock_guard lock(write_mu);
  return check_writable();
}

// ------------------------------------------------------------------------ checkpoint

Result<std::optional<Offset>> Log::Impl::read_cleaner_checkpoint() const {
  auto entries = internal::read_offset_checkpoint(env, path(kCleanerCheckpointFile));
  if (!entries.ok()) {
    // Missing, or unreadable garbage: clean from the log start (cleaning twice is harmless).
    if (entries.status().is_not_found() || entries.status().is_corruption()) {
      return std::optional<Offset>();
    }
    return entries.status();
  }
  for (const auto& e : *entries) {
    if (e.topic == config.topic && e.partition == config.partition) {
      return std::optional<Offset>(Offset(e.offset));
    }
  }
  // The file lives in this log's own directory: a sole entry is this log's (a renamed dir).
  if (entries->size() == 1) return std::optional<Offset>(Offset(entries->front().offset));
  return std::optional<Offset>();
}

Status Log::Impl::write_cleaner_checkpoint(Offset first_dirty) {
  return internal::write_offset_checkpoint(env, path(kCleanerCheckpointFile),
                                           {{config.topic, config.partition, first_dirty.value()}});
}

// ------------------------------------------------------------------------ the plan

// Kafka's LogCleanerManager.cleanableOffsets, calculateCleanableBytes and
// maxCompactionDelay, on one snapshot of the segments.
Status Log::Impl::plan_compaction(internal::CompactionPass& pass) const {
  pass.snapshot = snapshot();
  const SegmentList& segs = *pass.snapshot;
  for (const auto& seg : segs) pass.sizes.push_back(seg->size_bytes());
  const Offset start = log_start.load();
  const Offset end = log_end.load();
  const std::int64_t now = pass.now.value();
  // A checkpoint outside the log (a truncation, a deleted prefix) is not trusted.
  SAMSA_TRY_ASSIGN(const std::optional<Offset> checkpoint, read_cleaner_checkpoint());
  Offset first_dirty = start;
  if (checkpoint && *checkpoint >= start && *checkpoint <= end) first_dirty = *checkpoint;

  const std::size_t active = segs.size() - 1;
  const std::size_t dirty_from = floor_segment(segs, first_dirty);
  Offset uncleanable = segs[active]->base_offset();
  if (pass.upper_bound) uncleanable = std::min(uncleanable, *pass.upper_bound);
  if (config.min_compaction_lag_ms > 0) {
    for (std::size_t i = dirty_from; i < active; ++i) {
      if (segs[i]->max_timestamp().timestamp.value() > now - config.min_compaction_lag_ms) {
        uncleanable = std::min(uncleanable, segs[i]->base_offset());
        break;
      }
    }
  }
  uncleanable = std::max(first_dirty, uncleanable);
  // Rounded down to the base of the segment holding it: no part of a segment is cleaned.
  const std::size_t cleanable = std::min(floor_segment(segs, uncleanable), active);
  pass.cleanable_segments = cleanable;

  CleanableRange& r = pass.range;
  r.first_dirty_offset = first_dirty;
  r.first_uncleanable_offset = segs[cleanable]->base_offset();
  std::int64_t earliest_dirty_ms = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < cleanable; ++i) {
    const Segment& seg = *segs[i];
    if (seg.base_offset() < first_dirty) r.clean_bytes += seg.size_bytes();
    if (i < dirty_from) continue;
    r.cleanable_bytes += seg.size_bytes();
  }
  for (std::size_t i = dirty_from; i < active; ++i) {
    const std::int64_t first_ts = segs[i]->first_batch_timestamp().value();
    if (first_ts > 0) earliest_dirty_ms = std::min(earliest_dirty_ms, first_ts);
  }
  const std::uint64_t total = r.clean_bytes + r.cleanable_bytes;
  r.dirty_ratio =
      total == 0 ? 0 : static_cast<double>(r.cleanable_bytes) / static_cast<double>(total);
  r.max_lag_exceeded =
      earliest_dirty_ms < now - std::max<std::int64_t>(config.max_compaction_lag_ms, 0);
  r.needs_cleaning = (r.max_lag_exceeded && r.cleanable_bytes > 0) ||
                     (r.cleanable_bytes > 0 && r.dirty_ratio > config.min_cleanable_dirty_ratio);
  return Status();
}

// ------------------------------------------------------------------------ the offset map

// Kafka's buildOffsetMap: every keyed record of [first dirty, first uncleanable), in order,
// until the map is full. The batches seen, and a header scan of the rest of the log, give
// each producer's last batch.
Status Log::Impl::build_offset_map(internal::CompactionPass& pass, internal::OffsetMap& map) const {
  // A map that moved to its largest table starts over (OffsetMap::Put::restart), once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    SAMSA_TRY_ASSIGN(const bool done, index_dirty_part(pass, map));
    if (done) return Status();
  }
  return Status::failed_precondition(
      fmt::format("log {}: the offset map asked to start over twice", dir));
}

namespace {

// The keys of one batch, reused from batch to batch.
struct BatchKeys {
  std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;  // the log's bound
  RecordReader reader;
  Record record;
  std::vector<std::pair<internal::KeyHash, Offset>> hashed;
};

// Puts the keys of `batch` at or past `first_dirty` into `map`: all hashed and their slots
// prefetched first, then put in order until one put is not ok.
Result<internal::OffsetMap::Put> index_batch_keys(const RecordBatchView& batch, Offset first_dirty,
                                                  internal::OffsetMap& map, BatchKeys& keys,
                                                  CleanerStats& stats) {
  keys.hashed.clear();
  SAMSA_TRY(keys.reader.reset(batch, {.max_decompressed_bytes = keys.max_decompressed_bytes}));
  for (;;) {  // bounded by the batch's record count (the reader checks it)
    SAMSA_TRY_ASSIGN(const bool more, keys.reader.next(keys.record));
    if (!more) break;
    if (!keys.record.key || keys.record.offset < first_dirty) continue;
    keys.hashed.emplace_back(internal::hash_key(*keys.record.key), keys.record.offset);
    map.prefetch(keys.hashed.back().first);
  }
  auto put = internal::OffsetMap::Put::ok;
  for (std::size_t k = 0; k < keys.hashed.size() && put == internal::OffsetMap::Put::ok; ++k) {
    put = map.put(keys.hashed[k].first, keys.hashed[k].second);
    if (put == internal::OffsetMap::Put::ok) ++stats.map_records;
  }
  return put;
}

}  // namespace

// One attempt of build_offset_map: false when the map asked to start over.
Result<bool> Log::Impl::index_dirty_part(internal::CompactionPass& pass,
                                         internal::OffsetMap& map) const {
  const SegmentList& segs = *pass.snapshot;
  const Offset first_dirty = pass.range.first_dirty_offset;
  const std::size_t buffer = pass.cleaner.io_buffer_bytes;
  auto& producers = pass.producer_last_offsets;
  CleanerStats& stats = pass.stats;
  producers.clear();
  stats.map_records = 0;
  BatchKeys keys;
  keys.max_decompressed_bytes = config.max_decompressed_bytes();
  std::optional<Offset> last_indexed;  // the last offset of the last batch wholly indexed
  auto put = internal::OffsetMap::Put::ok;
  std::size_t i = 0;
  std::uint64_t resume = 0;  // where the producer scan goes on after the map filled
  for (; i < segs.size() && put == internal::OffsetMap::Put::ok; ++i) {
    const Segment& seg = *segs[i];
    const std::uint64_t size = seg.size_bytes();
    if (seg.next_offset() <= first_dirty || i >= pass.cleanable_segments) {
      SAMSA_TRY(scan_producers(dir, seg, 0, size, buffer, producers));
      continue;
    }
    std::uint64_t from = 0;
    if (first_dirty > seg.base_offset()) {
      if (auto entry = seg.offset_index().lookup(first_dirty)) from = entry->position.value();
    }
    SAMSA_TRY(scan_producers(dir, seg, 0, from, buffer, producers));
    SAMSA_TRY_ASSIGN(BatchScanner scanner, scan(dir, seg, from, size, buffer));
    while (put == internal::OffsetMap::Put::ok) {
      SAMSA_TRY_ASSIGN(auto batch, next_batch(scanner, Crc::checked));
      if (!batch) break;
      stats.bytes_read += batch->size_bytes();
      stats.map_bytes_read += batch->size_bytes();
      if (batch->producer_id() != ProducerId::none()) {
        producers[batch->producer_id().value()] = batch->last_offset().value();
      }
      if (!batch->is_control()) {  // control records have keys, but not a user's
        SAMSA_TRY_ASSIGN(put, index_batch_keys(*batch, first_dirty, map, keys, stats));
      }
      if (put == internal::OffsetMap::Put::ok && batch->last_offset() >= first_dirty) {
        last_indexed = batch->last_offset();
      }
      resume = scanner.position();
    }
    if (put != internal::OffsetMap::Put::ok) break;
  }
  if (put == internal::OffsetMap::Put::restart) return false;
  if (put == internal::OffsetMap::Put::ok) {
    pass.map_end = std::max(first_dirty, pass.range.first_uncleanable_offset);
    return true;
  }
  stats.map_full = true;
  pass.map_end = last_indexed ? *last_indexed + 1 : first_dirty;
  if (pass.map_end <= first_dirty) {
    return Status::invalid_argument(fmt::format(
        "log {}: the offset map ({} keys at most; CleanerConfig::offset_map_bytes {}) cannot "
        "hold the keys of the first dirty batch, at offset {}",
        dir, map.max_entries(), pass.cleaner.offset_map_bytes, first_dirty.value()));
  }
  // The rest of the log, for its producers.
  SAMSA_TRY(scan_producers(dir, *segs[i], resume, segs[i]->size_bytes(), buffer, producers));
  for (++i; i < segs.size(); ++i) {
    SAMSA_TRY(scan_producers(dir, *segs[i], 0, segs[i]->size_bytes(), buffer, producers));
  }
  return true;
}

// ------------------------------------------------------------------------ cleaning

Result<bool> Log::Impl::clean_segments(internal::CompactionPass& pass,
                                       const internal::OffsetMap& map) {
  SegmentList to_clean;
  for (std::size_t i = 0; i < pass.cleanable_segments; ++i) {
    const auto& seg = (*pass.snapshot)[i];
    if (seg->base_offset() >= pass.map_end) break;
    to_clean.push_back(seg);
  }
  const internal::RetentionRule rule{&map,
                                     pass.map_end,
                                     &pass.producer_last_offsets,
                                     pass.now,
                                     config.delete_retention_ms,
                                     config.max_decompressed_bytes()};
  internal::BatchFilter filter(rule);
  for (const SegmentList& group : group_by_size(to_clean, config)) {
    SAMSA_TRY_ASSIGN(const bool swapped, clean_group(group, filter, pass));
    if (!swapped) return false;
  }
  return true;
}

// Kafka's Cleaner.cleanSegments: the group's batches through the filter into one cleaned
// segment named after the first, then the swap.
Result<bool> Log::Impl::clean_group(const SegmentList& group, internal::BatchFilter& filter,
                                    internal::CompactionPass& pass) {
  std::vector<std::uint64_t> sizes;
  for (const auto& seg : group) sizes.push_back(seg->size_bytes());
  internal::CleanedSegmentWriter cleaned(env, dir, group.front()->base_offset(), segment_config,
                                         pass.cleaner.io_buffer_bytes);
  auto write = [&]() -> Status {
    SAMSA_TRY(cleaned.open());
    for (std::size_t i = 0; i < group.size(); ++i) {
      const Segment& seg = *group[i];
      SAMSA_TRY_ASSIGN(BatchScanner scanner,
                       scan(dir, seg, 0, sizes[i], pass.cleaner.io_buffer_bytes));
      for (;;) {  // each step consumes a whole batch of a file of sizes[i] bytes
        SAMSA_TRY_ASSIGN(auto batch, next_batch(scanner, Crc::checked));
        if (!batch) break;
        pass.stats.bytes_read += batch->size_bytes();
        // The group's last batch stays, empty if need be: the cleaned segment then ends
        // where the old ones did, which is how recovery tells which old segments a
        // leftover .swap replaces.
        const bool group_end = i + 1 == group.size() && scanner.position() == sizes[i];
        Status s = filter.filter(*batch, group_end, cleaned, pass.stats);
        if (!s.ok()) return s.with_context(path(log_file_name(seg.base_offset())));
      }
    }
    return cleaned.finish();
  };
  if (Status s = write(); !s.ok()) {
    cleaned.remove_files();
    // Reading segments that retention or a truncation took away fails: not an error of
    // the log's, the pass just stops.
    if (segments_changed(group, sizes)) return false;
    return s;
  }
  pass.stats.bytes_written += cleaned.size_bytes();
  return swap_in_cleaned(group, sizes, cleaned, pass);
}

std::optional<std::size_t> Log::Impl::find_unchanged(std::span<const std::shared_ptr<Segment>> segs,
                                                     std::span<const std::uint64_t> sizes) const {
  const SegmentList& current = *segments;
  if (segs.empty()) return std::nullopt;
  auto at = std::find(current.begin(), current.end(), segs.front());
  if (at == current.end() || static_cast<std::size_t>(current.end() - at) <= segs.size()) {
    return std::nullopt;  // gone, or reaching the active segment (a truncation)
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (at[static_cast<long>(i)] != segs[i] || segs[i]->size_bytes() != sizes[i]) {
      return std::nullopt;
    }
  }
  return static_cast<std::size_t>(at - current.begin());
}

bool Log::Impl::segments_changed(std::span<const std::shared_ptr<Segment>> segs,
                                 std::span<const std::uint64_t> sizes) {
  std::lock_guard lock(write_mu);
  return !check_writable().ok() || !find_unchanged(segs, sizes);
}

// The old segments of a swap go .deleted, into the pending deletes, except the first: the
// cleaned segment takes its name, so a later .deleted of that name (retention, the next
// pass) would overwrite its files and its delayed removal would remove the newer ones.
// Its files are removed at once and the Segment (its open files) retired for the delay.
Status Log::Impl::retire_replaced(const SegmentList& group) {
  const std::int64_t now = clock.now().value();
  std::erase_if(retired_segments, [&](const PendingDelete& p) { return p.remove_after_ms <= now; });
  for (const auto& seg : group) {
    // A pending delete of the same name (an earlier generation of it) would meet this
    // rename: removed first, its readers keep their open files.
    const std::string deleted_name = seg->log_path() + ".deleted";
    for (auto it = pending_deletes.begin(); it != pending_deletes.end();) {
      if (it->segment->log_path() != deleted_name) {
        ++it;
        continue;
      }
      SAMSA_TRY(it->segment->remove_files());
      it = pending_deletes.erase(it);
    }
    if (seg != group.front()) {
      SAMSA_TRY(delete_segment(seg));
      continue;
    }
    SAMSA_TRY(seg->rename_to_deleted());
    for (const std::string& name :
         {log_file_name(seg->base_offset()), offset_index_file_name(seg->base_offset()),
          time_index_file_name(seg->base_offset())}) {
      SAMSA_TRY(env.remove(path(name + ".deleted")));
    }
    retired_segments.push_back({seg, now + config.file_delete_delay_ms});
  }
  return Status();
}

Result<bool> Log::Impl::swap_in_cleaned(const SegmentList& group,
                                        const std::vector<std::uint64_t>& sizes,
                                        internal::CleanedSegmentWriter& cleaned,
                                        internal::CompactionPass& pass) {
  std::lock_guard lock(write_mu);
  const SegmentList& current = *segments;
  // Still this log's segments, as they were cleaned, and none of them the active one.
  const std::optional<std::size_t> index = find_unchanged(group, sizes);
  if (!index || !check_writable().ok()) {
    cleaned.remove_files();
    return false;
  }
  const auto at = current.begin() + static_cast<long>(*index);
  // 1. .cleaned -> .swap, the .log last: its .swap is what recovery completes.
  Status s = env.rename(cleaned.index_path(".cleaned"), cleaned.index_path(".swap"));
  if (s.ok()) s = env.rename(cleaned.time_index_path(".cleaned"), cleaned.time_index_path(".swap"));
  if (s.ok()) s = env.rename(cleaned.log_path(".cleaned"), cleaned.log_path(".swap"));
  if (!s.ok()) {
    cleaned.remove_files();
    return s;
  }
  // From here the directory may hold a .log.swap that recovery completes: a failure stops
  // the log, and reopening it finishes the swap (or, if the .swap never reached the disk,
  // keeps the old segments).
  if (Status d = env.sync_dir(dir); !d.ok()) return fail(d);
  // 2. The old segments -> .deleted; readers holding their files keep reading them.
  if (Status r = retire_replaced(group); !r.ok()) return fail(r);
  if (Status d = env.sync_dir(dir); !d.ok()) return fail(d);
  // 3. .swap -> the final names, the .log last.
  for (const auto& [from, to] :
       {std::pair{cleaned.index_path(".swap"), cleaned.index_path("")},
        std::pair{cleaned.time_index_path(".swap"), cleaned.time_index_path("")},
        std::pair{cleaned.log_path(".swap"), cleaned.log_path("")}}) {
    if (Status r = env.rename(from, to); !r.ok()) return fail(r);
  }
  if (Status d = env.sync_dir(dir); !d.ok()) return fail(d);
  auto opened = Segment::open(env, dir, cleaned.base_offset(), segment_config, /*active=*/false);
  if (!opened.ok()) return fail(opened.status());
  SegmentList list(current.begin(), at);
  list.push_back(std::move(opened).value());
  list.insert(list.end(), at + static_cast<long>(group.size()), current.end());
  publish(std::move(list));
  pass.stats.segments_cleaned += static_cast<std::int64_t>(group.size());
  ++pass.stats.segments_written;
  return true;
}

}  // namespace samsa
