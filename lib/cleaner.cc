// The Cleaner (include/samsa/cleaner.h): which log to clean and what a pass reports. The
// pass itself runs on the Log's internals (log_compaction.cc); what does not need them
// (the offset map, the record retention rule, the cleaned segment writer) is here.
#include "samsa/cleaner.h"

#include <fmt/format.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL  // the hash of every key read: inlined, no call per key
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

#include "compaction.h"
#include "invariant.h"
#include "log_impl.h"

namespace samsa {

namespace internal {

// ------------------------------------------------------------------------ offset map

KeyHash hash_key(ByteSpan key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.low64, h.high64};
}

namespace {
// The first table: 1.5 MiB. It doubles at half full, so probes stay short while it grows.
constexpr std::int64_t kInitialSlots = std::int64_t{1} << 16;
}  // namespace

OffsetMap::OffsetMap(std::uint64_t memory_bytes, double load_factor) {
  max_slots_ = static_cast<std::int64_t>(std::max<std::uint64_t>(memory_bytes / sizeof(Slot), 1));
  initial_slots_ = std::min(kInitialSlots, max_slots_);
  const double fraction = std::clamp(load_factor, 0.0, 1.0);
  // At least one slot stays empty, so every probe sequence ends at an empty slot.
  max_entries_ = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(static_cast<double>(max_slots_) * fraction), 0, max_slots_ - 1);
}

OffsetMap::~OffsetMap() = default;

OffsetMap::Table OffsetMap::allocate(std::int64_t slots) {
  // calloc rather than new + memset: a large calloc maps zero pages that cost nothing until
  // touched.
  const std::size_t bytes = static_cast<std::size_t>(slots) * sizeof(Slot);
  void* memory = std::calloc(static_cast<std::size_t>(slots), sizeof(Slot));
  SAMSA_ASSERT(memory != nullptr, "offset map: out of memory for {} slots", slots);
  // Keys land anywhere in the table: with 4 KiB pages nearly every lookup of a large map
  // misses the TLB. Transparent huge pages, where the kernel offers them (a hint only).
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = (reinterpret_cast<std::uintptr_t>(memory) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(memory) + bytes) & ~(kHuge - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  return Table(static_cast<Slot*>(memory));
}

void OffsetMap::clear() {
  if (table_ && entries_ == 0 && slots_ == initial_slots_) return;
  table_ = allocate(initial_slots_);
  slots_ = initial_slots_;
  entries_ = 0;
}

OffsetMap::Slot& OffsetMap::find(const KeyHash& key) const {
  const auto n = static_cast<std::size_t>(slots_);
  std::size_t i = home(key);
  // A slot always stays empty (entries < slots), which ends every probe sequence.
  for (std::size_t probe = 0; probe < n; ++probe) {
    Slot& slot = table_[i];
    if (slot.offset_plus_one == 0 || (slot.low == key.low && slot.high == key.high)) return slot;
    i = i + 1 == n ? 0 : i + 1;
  }
  SAMSA_ASSERT(false, "offset map: no empty slot among {} ({} entries)", slots_, entries_);
  return table_[0];
}

void OffsetMap::grow_to(std::int64_t slots) {
  Table old = std::move(table_);
  const std::int64_t old_slots = slots_;
  table_ = allocate(slots);
  slots_ = slots;
  for (std::int64_t i = 0; i < old_slots; ++i) {
    const Slot& slot = old[static_cast<std::size_t>(i)];
    if (slot.offset_plus_one != 0) find({slot.low, slot.high}) = slot;
  }
}

OffsetMap::Put OffsetMap::put(const KeyHash& key, Offset offset) {
  SAMSA_ASSERT(table_ != nullptr, "OffsetMap::put before clear()");
  Slot* slot = &find(key);
  if (slot->offset_plus_one != 0) {
    slot->offset_plus_one = offset.value() + 1;
    return Put::ok;
  }
  if (entries_ >= max_entries_) return Put::full;
  if (slots_ < max_slots_ && entries_ + 1 > slots_ / 2) {
    const std::int64_t next = std::min(2 * slots_, max_slots_);
    if (next + slots_ > max_slots_) {
      // Old and new tables together would pass the memory: start over in the largest.
      table_.reset();
      table_ = allocate(max_slots_);
      slots_ = max_slots_;
      entries_ = 0;
      return Put::restart;
    }
    grow_to(next);
    slot = &find(key);
  }
  *slot = {key.low, key.high, offset.value() + 1};
  ++entries_;
  return Put::ok;
}

std::optional<Offset> OffsetMap::get(const KeyHash& key) const {
  if (!table_) return std::nullopt;
  const Slot& slot = find(key);
  if (slot.offset_plus_one == 0) return std::nullopt;
  return Offset(slot.offset_plus_one - 1);
}

// ------------------------------------------------------------------------ batch filter

namespace {

enum class Verdict : std::uint8_t { keep, superseded, keyless, expired_tombstone };

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return a + b;
}

}  // namespace

struct BatchFilter::Impl {
  explicit Impl(const RetentionRule& r) : rule(r) {}

  RetentionRule rule;
  RecordReader reader;
  RecordBatchBuilder builder;
  std::vector<Record> records;  // of the batch being filtered
  std::vector<KeyHash> keys;    // their key hashes
  std::vector<Record> kept;
  std::vector<RecordHeader> headers;

  // Kafka's Cleaner.shouldRetainRecord.
  // `key`: the record's key hash, when it has a key and lies below the map's end.
  Verdict verdict(const RecordBatchView& batch, const Record& record, const KeyHash& key) const {
    if (record.offset >= rule.map_end) return Verdict::keep;  // not indexed: nothing newer known
    if (!record.key) return Verdict::keyless;
    const std::optional<Offset> latest = rule.map->get(key);
    if (latest && record.offset < *latest) return Verdict::superseded;
    if (record.value) return Verdict::keep;
    const std::optional<Timestamp> horizon = batch.delete_horizon();
    return !horizon || rule.now < *horizon ? Verdict::keep : Verdict::expired_tombstone;
  }

  bool producer_last(const RecordBatchView& batch) const {
    if (batch.producer_id() == ProducerId::none()) return false;
    const auto it = rule.producer_last_offsets->find(batch.producer_id().value());
    return it != rule.producer_last_offsets->end() && it->second == batch.last_offset().value();
  }

  BatchOptions options_like(const RecordBatchView& batch) const {
    BatchOptions o;
    o.compression = batch.compression();
    o.timestamp_type = batch.timestamp_type();
    o.base_offset = batch.base_offset();
    o.partition_leader_epoch = batch.partition_leader_epoch();
    o.producer_id = batch.producer_id();
    o.producer_epoch = batch.producer_epoch();
    o.base_sequence = batch.base_sequence();
    o.transactional = batch.is_transactional();
    if (batch.timestamp_type() == TimestampType::log_append_time) {
      o.log_append_time = batch.max_timestamp();
    }
    return o;
  }

  // The kept records in a batch like the original: same base offset and last offset (the
  // producer's last sequence must not move), codec, timestamp type and producer fields.
  Status rewrite(const RecordBatchView& batch, bool set_horizon, CleanedSegmentWriter& out) {
    BatchOptions o = options_like(batch);
    if (batch.has_delete_horizon()) {
      o.delete_horizon = batch.delete_horizon();
    } else if (set_horizon) {
      o.delete_horizon = Timestamp(saturating_add(rule.now.value(), rule.delete_retention_ms));
    }
    builder.reset(o);
    for (const Record& r : kept) {
      headers.assign(r.headers.begin(), r.headers.end());
      SAMSA_TRY(
          builder.append_with_offset_delta(r.offset_delta, r.timestamp, r.key, r.value, headers));
    }
    builder.set_last_offset_delta(batch.last_offset_delta());
    SAMSA_TRY_ASSIGN(const MutableByteSpan built, builder.build());
    SAMSA_TRY_ASSIGN(const RecordBatchView view, RecordBatchView::parse(built));
    return out.append(built, batch.last_offset(), view.max_timestamp());
  }

  // Kafka's DefaultRecordBatch.writeEmptyHeader: no records, no codec, no base timestamp,
  // the original max timestamp (the segment's time keeps its meaning).
  Status write_empty(const RecordBatchView& batch, CleanedSegmentWriter& out) {
    BatchOptions o = options_like(batch);
    o.compression = Compression::none;
    builder.reset(o);
    builder.set_last_offset_delta(batch.last_offset_delta());
    SAMSA_TRY_ASSIGN(const MutableByteSpan built, builder.build());
    set_max_timestamp(built, batch.timestamp_type(), batch.max_timestamp());
    return out.append(built, batch.last_offset(), batch.max_timestamp());
  }
};

BatchFilter::BatchFilter(const RetentionRule& rule) : impl_(std::make_unique<Impl>(rule)) {}
BatchFilter::~BatchFilter() = default;

Status BatchFilter::filter(const RecordBatchView& batch, bool keep_empty, CleanedSegmentWriter& out,
                           CleanerStats& stats) {
  Impl& m = *impl_;
  if (batch.is_control()) {
    // No transactions yet: control batches (and the markers in them) stay as they are.
    ++stats.batches_copied;
    return out.append(batch.bytes(), batch.last_offset(), batch.max_timestamp());
  }
  SAMSA_TRY(m.reader.reset(batch, {.max_decompressed_bytes = m.rule.max_decompressed_bytes}));
  m.records.clear();
  m.keys.clear();
  m.kept.clear();
  // Every record decoded and its key's slot prefetched first, then the verdicts.
  Record record;
  for (;;) {  // RecordReader::next fails past records_count, which bounds this loop
    SAMSA_TRY_ASSIGN(const bool more, m.reader.next(record));
    if (!more) break;
    m.records.push_back(record);
    KeyHash key;
    if (record.key && record.offset < m.rule.map_end) {
      key = hash_key(*record.key);
      m.rule.map->prefetch(key);
    }
    m.keys.push_back(key);
  }
  bool tombstone_kept = false;
  const auto read = static_cast<std::int64_t>(m.records.size());
  for (std::size_t i = 0; i < m.records.size(); ++i) {
    const Record& r = m.records[i];
    switch (m.verdict(batch, r, m.keys[i])) {
      case Verdict::keep:
        tombstone_kept = tombstone_kept || !r.value;
        m.kept.push_back(r);
        break;
      case Verdict::keyless:
        ++stats.keyless_removed;
        break;
      case Verdict::expired_tombstone:
        ++stats.tombstones_removed;
        break;
      case Verdict::superseded:
        break;
    }
  }
  const auto kept = static_cast<std::int64_t>(m.kept.size());
  stats.records_read += read;
  stats.records_kept += kept;
  stats.records_removed += read - kept;
  // The first pass that keeps a tombstone starts its delete horizon (KIP-534).
  const bool set_horizon = tombstone_kept && !batch.has_delete_horizon();
  if (kept > 0 && kept == read && !set_horizon) {
    ++stats.batches_copied;
    return out.append(batch.bytes(), batch.last_offset(), batch.max_timestamp());
  }
  if (kept > 0) {
    ++stats.batches_rewritten;
    return m.rewrite(batch, set_horizon, out);
  }
  if (keep_empty || m.producer_last(batch)) {
    ++stats.empty_batches_kept;
    return m.write_empty(batch, out);
  }
  ++stats.batches_removed;
  return Status();
}

// ------------------------------------------------------------------------ cleaned segment

CleanedSegmentWriter::CleanedSegmentWriter(Env& env, std::string dir, Offset base,
                                           const SegmentConfig& config, std::size_t buffer_bytes)
    : env_(env),
      dir_(std::move(dir)),
      base_(base),
      config_(config),
      buffer_bytes_(std::max<std::size_t>(buffer_bytes, 4096)) {}

CleanedSegmentWriter::~CleanedSegmentWriter() = default;

std::string CleanedSegmentWriter::log_path(std::string_view suffix) const {
  return join_path(dir_, log_file_name(base_) + std::string(suffix));
}
std::string CleanedSegmentWriter::index_path(std::string_view suffix) const {
  return join_path(dir_, offset_index_file_name(base_) + std::string(suffix));
}
std::string CleanedSegmentWriter::time_index_path(std::string_view suffix) const {
  return join_path(dir_, time_index_file_name(base_) + std::string(suffix));
}

Status CleanedSegmentWriter::open() {
  // Leftovers of an earlier attempt: an index file opens with the entries it holds.
  for (const std::string& path :
       {log_path(".cleaned"), index_path(".cleaned"), time_index_path(".cleaned")}) {
    SAMSA_TRY_ASSIGN(const bool exists, env_.exists(path));
    if (exists) SAMSA_TRY(env_.remove(path));
  }
  SAMSA_TRY_ASSIGN(log_, env_.open(log_path(".cleaned"), {.create = true, .truncate = true}));
  SAMSA_TRY_ASSIGN(index_, OffsetIndex::open(env_, index_path(".cleaned"), base_,
                                             config_.max_index_bytes, /*preallocate=*/false));
  SAMSA_TRY_ASSIGN(time_index_, TimeIndex::open(env_, time_index_path(".cleaned"), base_,
                                                config_.max_index_bytes, /*preallocate=*/false));
  buffer_.reserve(buffer_bytes_);
  return Status();
}

void CleanedSegmentWriter::maybe_time_entry() {
  if (max_timestamp_.value() < 0 || time_index_->full()) return;
  const auto last = time_index_->last();
  if (last && (max_timestamp_ <= last->timestamp || offset_of_max_timestamp_ <= last->offset)) {
    return;
  }
  time_index_->append({max_timestamp_, offset_of_max_timestamp_});
}

Status CleanedSegmentWriter::append(ByteSpan batch, Offset last_offset, Timestamp max_timestamp) {
  SAMSA_ASSERT(last_offset > last_offset_ && last_offset >= base_,
               "cleaned segment {}: batch ending at {} after {}", base_.value(),
               last_offset.value(), last_offset_.value());
  const std::uint64_t position = size_;
  if (position + batch.size() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()) ||
      last_offset - base_ > std::numeric_limits<std::int32_t>::max()) {
    return Status::invalid_argument(
        fmt::format("{}: the cleaned segment would pass 2 GiB or 2^31 offsets at offset {}",
                    log_path(".cleaned"), last_offset.value()));
  }
  if (max_timestamp > max_timestamp_) {
    max_timestamp_ = max_timestamp;
    offset_of_max_timestamp_ = last_offset;
  }
  // Kafka's rule, as Segment::recover rebuilds an index: checked before counting the batch.
  if (bytes_since_index_entry_ > config_.index_interval_bytes) {
    if (!index_->full()) index_->append({last_offset, Position(position)});
    maybe_time_entry();
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += batch.size();
  buffer_.insert(buffer_.end(), batch.begin(), batch.end());
  size_ += batch.size();
  last_offset_ = last_offset;
  if (buffer_.size() >= buffer_bytes_) return flush_buffer();
  return Status();
}

Status CleanedSegmentWriter::flush_buffer() {
  if (buffer_.empty()) return Status();
  SAMSA_TRY(log_->append(buffer_));
  buffer_.clear();
  return Status();
}

Status CleanedSegmentWriter::finish() {
  SAMSA_TRY(flush_buffer());
  maybe_time_entry();  // the final entry a segment gets when it stops being active
  SAMSA_TRY(log_->sync());
  SAMSA_TRY(index_->trim());
  SAMSA_TRY(time_index_->trim());
  SAMSA_TRY(index_->close());
  SAMSA_TRY(time_index_->close());
  return log_->close();
}

void CleanedSegmentWriter::remove_files() {
  if (log_) (void)log_->close();
  if (index_) (void)index_->close();
  if (time_index_) (void)time_index_->close();
  for (const std::string_view suffix : {".cleaned", ".swap"}) {
    for (const std::string& path :
         {log_path(suffix), index_path(suffix), time_index_path(suffix)}) {
      auto exists = env_.exists(path);
      if (exists.ok() && *exists) (void)env_.remove(path);
    }
  }
}

}  // namespace internal

// ------------------------------------------------------------------------ Cleaner

struct Cleaner::Impl {
  Impl(CleanerConfig c, Clock& k)
      : config(c), clock(k), map(c.offset_map_bytes, c.offset_map_load_factor) {}

  CleanerConfig config;
  Clock& clock;
  internal::OffsetMap map;
  std::map<std::string, Status> uncleanable;  // by log directory
};

Cleaner::Cleaner(CleanerConfig config, Clock& clock)
    : impl_(std::make_unique<Impl>(config, clock)) {}
Cleaner::~Cleaner() = default;

const CleanerConfig& Cleaner::config() const {
  return impl_->config;
}

Log::Impl& Cleaner::log_impl(Log& log) {
  return *log.impl_;
}
const Log::Impl& Cleaner::log_impl(const Log& log) {
  return *log.impl_;
}

Result<CleanableRange> Cleaner::cleanable_range(const Log& log,
                                                std::optional<Offset> upper_bound) const {
  internal::CompactionPass pass;
  pass.cleaner = impl_->config;
  pass.now = impl_->clock.now();
  pass.upper_bound = upper_bound;
  SAMSA_TRY(log_impl(log).plan_compaction(pass));
  return pass.range;
}

Result<CleanResult> Cleaner::clean_pass(Log& log, std::optional<Offset> upper_bound) {
  Log::Impl& m = log_impl(log);
  const std::int64_t start_ns = impl_->clock.monotonic_ns();
  SAMSA_TRY(m.check_cleanable());
  internal::CompactionPass pass;
  pass.cleaner = impl_->config;
  pass.now = impl_->clock.now();
  pass.upper_bound = upper_bound;
  SAMSA_TRY(m.plan_compaction(pass));
  CleanResult result;
  result.range = pass.range;
  if (pass.cleanable_segments == 0) return result;  // only the active segment, or a bound
  internal::OffsetMap& map = impl_->map;
  map.clear();
  if (Status s = m.build_offset_map(pass, map); !s.ok()) {
    // Segments deleted or truncated under the pass make reading them fail: not the log's
    // fault, the pass just stops.
    const auto cleanable = std::span(*pass.snapshot).first(pass.cleanable_segments);
    if (!m.segments_changed(cleanable, std::span(pass.sizes).first(pass.cleanable_segments))) {
      return s;
    }
    result.abandoned = true;
    return result;
  }
  pass.stats.map_elapsed = std::chrono::nanoseconds(impl_->clock.monotonic_ns() - start_ns);
  pass.stats.map_entries = map.size();
  pass.stats.map_slots = map.slots();
  pass.stats.map_fill = map.utilization();
  SAMSA_TRY_ASSIGN(const bool done, m.clean_segments(pass, map));
  result.abandoned = !done;
  if (done) {
    SAMSA_TRY(m.write_cleaner_checkpoint(pass.map_end));
    result.cleaned = true;
    result.cleaned_up_to = pass.map_end;
  }
  pass.stats.elapsed = std::chrono::nanoseconds(impl_->clock.monotonic_ns() - start_ns);
  result.stats = pass.stats;
  return result;
}

Result<CleanResult> Cleaner::clean(Log& log, std::optional<Offset> upper_bound) {
  // A misuse, which says nothing about the log's health: not marked uncleanable.
  if (!log.config().cleanup_policy.compact) {
    return Status::invalid_argument(
        fmt::format("log {} has cleanup policy \"{}\": only logs whose policy includes compact "
                    "are cleaned",
                    log.dir(), log.config().cleanup_policy.to_string()));
  }
  auto result = clean_pass(log, upper_bound);
  if (result.ok()) {
    impl_->uncleanable.erase(log.dir());
  } else {
    impl_->uncleanable[log.dir()] = result.status();
  }
  return result;
}

CleanerRun Cleaner::run_once(std::span<Log* const> logs) {
  std::vector<CleanTarget> targets;
  targets.reserve(logs.size());
  for (Log* log : logs) targets.push_back({log, std::nullopt});
  return run_once(targets);
}

CleanerRun Cleaner::run_once(std::span<const CleanTarget> targets) {
  CleanerRun run;
  struct Candidate {
    const CleanTarget* target;
    double ratio;
  };
  std::vector<Candidate> candidates;
  for (const CleanTarget& t : targets) {
    if (t.log == nullptr || !t.log->config().cleanup_policy.compact) continue;
    if (impl_->uncleanable.contains(t.log->dir()) || !t.log->failure().ok()) continue;
    ++run.logs_checked;
    auto range = cleanable_range(*t.log, t.upper_bound);
    if (!range.ok()) {
      impl_->uncleanable[t.log->dir()] = range.status();
      run.failed.push_back({t.log->dir(), range.status()});
      continue;
    }
    run.dirtiest_ratio = std::max(run.dirtiest_ratio, range->dirty_ratio);
    if (range->needs_cleaning) candidates.push_back({&t, range->dirty_ratio});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.ratio > b.ratio; });
  for (const Candidate& c : candidates) {
    auto result = clean(*c.target->log, c.target->upper_bound);
    if (!result.ok()) {
      run.failed.push_back({c.target->log->dir(), result.status()});
      continue;
    }
    run.cleaned_log = c.target->log;
    run.result = std::move(result).value();
    break;
  }
  return run;
}

std::vector<UncleanableLog> Cleaner::uncleanable() const {
  std::vector<UncleanableLog> out;
  for (const auto& [dir, error] : impl_->uncleanable) out.push_back({dir, error});
  return out;
}

void Cleaner::clear_uncleanable(const std::string& dir) {
  impl_->uncleanable.erase(dir);
}

}  // namespace samsa
