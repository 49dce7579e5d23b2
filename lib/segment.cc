// Segment: one .log file with its .index and .timeindex, following Kafka's LogSegment.
#include "samsa/segment.h"

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <mutex>

#include "batch_scanner.h"
#include "invariant.h"
#include "samsa/record_batch.h"

namespace samsa {

using internal::BatchScanner;

std::string segment_file_prefix(Offset base_offset) {
  return fmt::format("{:020d}", base_offset.value());
}
std::string log_file_name(Offset base) {
  return segment_file_prefix(base) + ".log";
}
std::string offset_index_file_name(Offset base) {
  return segment_file_prefix(base) + ".index";
}
std::string time_index_file_name(Offset base) {
  return segment_file_prefix(base) + ".timeindex";
}

std::optional<Offset> parse_segment_file_name(std::string_view name, std::string_view suffix) {
  if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + 20, v);
  if (ec != std::errc() || end != name.data() + 20 || v < 0) return std::nullopt;
  return Offset(v);
}

struct Segment::Impl {
  static std::unique_ptr<Impl> make(Env& env, const std::string& dir, Offset base,
                                    const SegmentConfig& config) {
    auto m = std::make_unique<Impl>();
    m->env = &env;
    m->dir = dir;
    m->base = base;
    m->config = config;
    m->log_path = join_path(dir, log_file_name(base));
    m->cache =
        config.file_cache != nullptr ? config.file_cache : &SegmentFileCache::process_default();
    m->cache_entry = m->cache->add();
    return m;
  }
  ~Impl() { cache->remove(cache_entry); }

  Env* env = nullptr;
  std::string dir;
  Offset base;
  SegmentConfig config;
  // Renamed (.deleted) under the owner's write lock while readers build messages from it:
  // readers take a copy through path().
  mutable std::mutex path_mu;
  std::string log_path;  // guarded by path_mu once the segment is shared
  std::string path() const {
    std::lock_guard lock(path_mu);
    return log_path;
  }
  // The .log: pinned while the segment is active (or being written), else held by the
  // cache, which may let it go between uses. pinned is written by the writer only, under
  // file_mu; readers read it under file_mu, the writer without.
  SegmentFileCache* cache = nullptr;
  SegmentFileCache::Entry* cache_entry = nullptr;
  mutable std::mutex file_mu;
  std::shared_ptr<File> pinned;
  std::unique_ptr<OffsetIndex> index;
  std::unique_ptr<TimeIndex> time_index;
  bool active = false;
  std::atomic<bool> closed{false};

  // The .log for a read (or a writer step on a sealed segment): the pinned file, else the
  // cache's, opened on a miss. The caller holds the shared_ptr for as long as it reads.
  Result<std::shared_ptr<File>> file() const {
    if (closed.load(std::memory_order_acquire)) {
      return Status::failed_precondition(fmt::format("{}: the segment is closed", path()));
    }
    {
      std::lock_guard lock(file_mu);
      if (pinned) return pinned;
    }
    return cache->acquire(cache_entry, *env, [this] { return path(); });
  }
  void set_pinned(std::shared_ptr<File> f) {
    std::lock_guard lock(file_mu);
    pinned = std::move(f);
  }
  // Pins the .log (it becomes active again): the cache's handle, or a new one.
  Status pin() {
    if (pinned) return Status();
    std::shared_ptr<File> f = cache->take(cache_entry);
    if (!f) {
      SAMSA_TRY_ASSIGN(std::unique_ptr<File> opened, env->open(path(), {}));
      f = std::move(opened);
    }
    set_pinned(std::move(f));
    return Status();
  }
  // Unpins the .log and hands it to the cache (the segment was sealed).
  void unpin_to_cache() {
    std::shared_ptr<File> f;
    {
      std::lock_guard lock(file_mu);
      f = std::move(pinned);
      pinned = nullptr;
    }
    if (f) cache->put(cache_entry, std::move(f));
  }
  // The .log handle wherever it is, taken away from readers to be closed.
  std::shared_ptr<File> take_file() {
    std::shared_ptr<File> f;
    {
      std::lock_guard lock(file_mu);
      f = std::move(pinned);
      pinned = nullptr;
    }
    std::shared_ptr<File> cached = cache->take(cache_entry);
    return f ? f : cached;
  }
  // A sealed segment's index entries are in memory: let go of their files' descriptors.
  Status release_index_files() {
    Status s = index->release_file();
    if (Status t = time_index->release_file(); s.ok()) s = t;
    return s;
  }

  // Published for readers (release after the bytes are written).
  std::atomic<std::uint64_t> size{0};
  std::atomic<std::int64_t> next_offset{0};
  std::atomic<std::int64_t> max_ts{-1};
  std::atomic<std::int64_t> offset_of_max_ts{-1};
  std::atomic<std::int64_t> first_batch_ts{-1};

  // Writer only.
  std::uint64_t bytes_since_last_index_entry = 0;
  // How the header scan at open() ended; sanity_check() reports it.
  Status open_scan;

  void note_timestamp(Timestamp ts, Offset offset) {
    if (ts.value() > max_ts.load(std::memory_order_relaxed)) {
      max_ts.store(ts.value(), std::memory_order_relaxed);
      offset_of_max_ts.store(offset.value(), std::memory_order_relaxed);
    }
  }
  // Kafka's rule: an entry once more than index_interval_bytes went in since the last one,
  // checked before counting this append, so the first append is never indexed.
  void maybe_index(Offset largest_offset, std::uint64_t position, std::uint64_t bytes) {
    if (bytes_since_last_index_entry > config.index_interval_bytes) {
      // An entry that does not follow the last one can only come from an index file that
      // was corrupt yet sane-looking: skip it (lookups then scan further) rather than crash.
      const auto last = index->last();
      if (!index->full() &&
          (!last || (largest_offset > last->offset && Position(position) > last->position))) {
        index->append({largest_offset, Position(position)});
      }
      maybe_time_entry();
      bytes_since_last_index_entry = 0;
    }
    bytes_since_last_index_entry += bytes;
  }
  void maybe_time_entry() {
    const Timestamp ts(max_ts.load(std::memory_order_relaxed));
    if (ts.value() < 0 || time_index->full()) return;
    const auto last = time_index->last();
    const Offset offset(offset_of_max_ts.load(std::memory_order_relaxed));
    if (last && (ts <= last->timestamp || offset <= last->offset)) return;
    time_index->append({ts, offset});
  }
  // Recomputes next offset and max timestamp from the last index entries and the batches
  // after them (at open and after a truncation).
  Status load_tail(const File& log);
  Status open_indexes(bool preallocate) {
    SAMSA_TRY_ASSIGN(index, OffsetIndex::open(*env, join_path(dir, offset_index_file_name(base)),
                                              base, config.max_index_bytes, preallocate));
    SAMSA_TRY_ASSIGN(time_index, TimeIndex::open(*env, join_path(dir, time_index_file_name(base)),
                                                 base, config.max_index_bytes, preallocate));
    return Status();
  }
};

Segment::Segment(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Segment::~Segment() {
  (void)close();
}

Result<std::unique_ptr<Segment>> Segment::create(Env& env, const std::string& dir, Offset base,
                                                 const SegmentConfig& config) {
  auto m = Impl::make(env, dir, base, config);
  SAMSA_TRY_ASSIGN(std::unique_ptr<File> log,
                   env.open(m->log_path, {.create = true, .exclusive = true}));
  m->pinned = std::move(log);
  // A stale index from an earlier life of this offset would be wrong: start from nothing.
  for (const auto& name : {offset_index_file_name(base), time_index_file_name(base)}) {
    const std::string path = join_path(dir, name);
    SAMSA_TRY_ASSIGN(const bool exists, env.exists(path));
    if (exists) SAMSA_TRY(env.remove(path));
  }
  SAMSA_TRY(m->open_indexes(/*preallocate=*/true));
  m->active = true;
  m->next_offset = base.value();
  return std::unique_ptr<Segment>(new Segment(std::move(m)));
}

Result<std::unique_ptr<Segment>> Segment::open(Env& env, const std::string& dir, Offset base,
                                               const SegmentConfig& config, bool active) {
  auto m = Impl::make(env, dir, base, config);
  std::shared_ptr<File> log;
  if (active) {
    SAMSA_TRY_ASSIGN(std::unique_ptr<File> opened, env.open(m->log_path, {}));
    log = std::move(opened);
    m->pinned = log;
  } else {
    // Read through the cache now (the tail scan below), and let go of it later.
    SAMSA_TRY_ASSIGN(log, m->file());
  }
  SAMSA_TRY_ASSIGN(const std::uint64_t size, log->size());
  m->size = size;
  SAMSA_TRY(m->open_indexes(active));
  m->active = active;
  m->open_scan = m->load_tail(*log);
  if (!active) SAMSA_TRY(m->release_index_files());
  return std::unique_ptr<Segment>(new Segment(std::move(m)));
}

Status Segment::Impl::load_tail(const File& log) {
  const std::uint64_t end = size.load();
  std::uint64_t start = 0;
  std::int64_t next = base.value();
  max_ts = -1;
  offset_of_max_ts = -1;
  // Trust the indexes only as far as they are sane; otherwise scan from the start.
  const bool indexes_sane = index->sanity_check().ok() && time_index->sanity_check().ok();
  if (indexes_sane) {
    if (auto last = index->last(); last && last->position.value() <= end) {
      start = last->position.value();
    }
    if (auto last = time_index->last()) note_timestamp(last->timestamp, last->offset);
  }
  BatchScanner scanner(log, start, end, log_path);
  bool first = true;
  bytes_since_last_index_entry = 0;
  for (;;) {  // each step takes a whole batch of [start, end) or ends the scan
    SAMSA_TRY_ASSIGN(auto step, scanner.next(BatchScanner::Read::header_only));
    if (step.kind == BatchScanner::Kind::end) break;
    if (step.kind != BatchScanner::Kind::batch) {
      next_offset = next;
      return Status::corruption(step.why);
    }
    const BatchLocation& b = step.location;
    if (first && start == 0) first_batch_ts = b.max_timestamp.value();
    first = false;
    note_timestamp(b.max_timestamp, b.last_offset);
    next = b.last_offset.value() + 1;
    bytes_since_last_index_entry += b.size_bytes;
  }
  if (start > 0) {
    // The first batch's timestamp (Kafka's rollingBasedTimestamp) needs one more header.
    BatchScanner head(log, 0, end, log_path);
    SAMSA_TRY_ASSIGN(auto step, head.next(BatchScanner::Read::header_only));
    if (step.kind == BatchScanner::Kind::batch) {
      first_batch_ts = step.location.max_timestamp.value();
    }
  }
  next_offset = next;
  return Status();
}

Offset Segment::base_offset() const {
  return impl_->base;
}
std::string Segment::log_path() const {
  return impl_->path();
}
std::uint64_t Segment::size_bytes() const {
  return impl_->size.load(std::memory_order_acquire);
}
Offset Segment::next_offset() const {
  return Offset(impl_->next_offset.load(std::memory_order_acquire));
}
TimestampOffset Segment::max_timestamp() const {
  return {Timestamp(impl_->max_ts.load(std::memory_order_acquire)),
          Offset(impl_->offset_of_max_ts.load(std::memory_order_acquire))};
}
Timestamp Segment::first_batch_timestamp() const {
  return Timestamp(impl_->first_batch_ts.load(std::memory_order_acquire));
}
const OffsetIndex& Segment::offset_index() const {
  return *impl_->index;
}
const TimeIndex& Segment::time_index() const {
  return *impl_->time_index;
}
Result<std::shared_ptr<File>> Segment::log_file() const {
  return impl_->file();
}

Status Segment::sanity_check() const {
  SAMSA_TRY(impl_->index->sanity_check());
  SAMSA_TRY(impl_->time_index->sanity_check());
  if (auto last = impl_->index->last(); last && last->position.value() >= size_bytes()) {
    return Status::corruption(
        fmt::format("{}: last entry points at position {} but the .log holds {} bytes",
                    impl_->index->path(), last->position.value(), size_bytes()));
  }
  return impl_->open_scan;
}

Status Segment::append(ByteSpan batches, Offset first_offset, Offset last_offset,
                       Timestamp max_timestamp, Offset offset_of_max_timestamp) {
  Impl& m = *impl_;
  SAMSA_ASSERT(!m.closed && m.active, "append to {} (closed {}, active {})", m.log_path,
               m.closed.load(), m.active);
  SAMSA_ASSERT(first_offset.value() >= m.next_offset.load() && last_offset >= first_offset &&
                   last_offset - m.base <= std::numeric_limits<std::int32_t>::max(),
               "append [{}, {}] to {} whose next offset is {}", first_offset.value(),
               last_offset.value(), m.log_path, m.next_offset.load());
  const std::uint64_t position = m.size.load(std::memory_order_relaxed);
  if (Status s = m.pinned->append(batches); !s.ok()) {
    // Cut back what a failed write left, so the file still ends on a whole batch.
    (void)m.pinned->truncate(position);
    return s;
  }
  if (position == 0) m.first_batch_ts.store(max_timestamp.value(), std::memory_order_relaxed);
  m.note_timestamp(max_timestamp, offset_of_max_timestamp);
  m.maybe_index(last_offset, position, batches.size());
  m.next_offset.store(last_offset.value() + 1, std::memory_order_release);
  m.size.store(position + batches.size(), std::memory_order_release);
  return Status();
}

Status Segment::for_each_batch(Position start,
                               const std::function<bool(const BatchLocation&)>& visit) const {
  SAMSA_TRY_ASSIGN(std::shared_ptr<const File> log, impl_->file());
  BatchScanner scanner(std::move(log), start.value(), size_bytes(), impl_->path());
  // Base offsets lie outside the CRC: check they increase and stay within the segment, so
  // a flipped bit there is reported instead of misplacing the batch.
  Offset previous_last = impl_->base - 1;
  const Offset next = next_offset();
  for (;;) {  // each step takes a whole batch of [start, end) or ends the scan
    SAMSA_TRY_ASSIGN(auto step, scanner.next(BatchScanner::Read::header_only));
    if (step.kind == BatchScanner::Kind::end) return Status();
    if (step.kind != BatchScanner::Kind::batch) return Status::corruption(step.why);
    const BatchLocation& b = step.location;
    SAMSA_TRY(internal::check_batch_offsets(b, previous_last, next, scanner.path()));
    previous_last = b.last_offset;
    if (!visit(b)) return Status();
  }
}

Result<std::optional<BatchLocation>> Segment::find_batch(Offset target, Position start) const {
  auto scan = [&](Position from,
                  std::optional<Offset> entry_offset) -> Result<std::optional<BatchLocation>> {
    std::optional<BatchLocation> found;
    bool first = true;
    bool consistent = true;
    SAMSA_TRY(for_each_batch(from, [&](const BatchLocation& b) {
      // An index entry is (largest offset of an append, where the append starts): the batch
      // it points at must end at or before that offset.
      if (first && entry_offset && b.last_offset > *entry_offset) {
        consistent = false;
        return false;
      }
      first = false;
      if (b.last_offset < target) return true;
      found = b;
      return false;
    }));
    if (!consistent) {
      return Status::corruption(
          fmt::format("{}: index entry for offset {} points at a batch "
                      "past it",
                      impl_->index->path(), entry_offset->value()));
    }
    return found;
  };
  if (start.value() != 0) return scan(start, std::nullopt);
  const auto entry = impl_->index->lookup(target);
  if (!entry) return scan(Position(0), std::nullopt);
  auto found = scan(entry->position, entry->offset);
  if (found.ok()) return found;
  // The index disagrees with the log (a corrupt entry that still looked sane): the log is
  // the truth, so walk it from the start. The next rescan rebuilds the index.
  return scan(Position(0), std::nullopt);
}

Result<std::size_t> Segment::read_at(Position position, MutableByteSpan out) const {
  const std::uint64_t size = size_bytes();
  if (position.value() >= size) return std::size_t{0};
  const auto n =
      static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - position.value()));
  SAMSA_TRY_ASSIGN(const std::shared_ptr<File> log, impl_->file());
  return log->read_at(position.value(), out.first(n));
}

namespace {

// The first record of `bytes` (one batch) at or after `target` and `start_offset`. Checks
// the batch as RecordBatchView::validate does (CRC, then every record, to the last one even
// after a match), decoding the records once rather than once to check and once to search.
Result<std::optional<TimestampOffset>> first_at_or_after(ByteSpan bytes, Position position,
                                                         Timestamp target, Offset start_offset,
                                                         std::size_t max_decompressed_bytes,
                                                         RecordReader& reader) {
  SAMSA_TRY_ASSIGN(auto view, RecordBatchView::parse(bytes, position.value()));
  SAMSA_TRY(view.check_crc());
  SAMSA_TRY(reader.reset(view, {.max_decompressed_bytes = max_decompressed_bytes}));
  std::optional<TimestampOffset> found;
  Record record;
  for (;;) {  // RecordReader::next fails past records_count, which bounds this loop
    SAMSA_TRY_ASSIGN(const bool more, reader.next(record));
    if (!more) return found;
    if (!found && record.timestamp >= target && record.offset >= start_offset) {
      found = TimestampOffset{record.timestamp, record.offset};
    }
  }
}

}  // namespace

Result<std::optional<TimestampOffset>> Segment::find_offset_by_timestamp(
    Timestamp target, Offset start_offset, std::size_t max_decompressed_bytes) const {
  Offset from = start_offset;
  if (auto entry = impl_->time_index->lookup(target); entry && entry->offset > from) {
    // Use the entry only if the log agrees: (max timestamp so far, last offset of the batch
    // that carried it). A corrupt entry would skip records; then scan from the start.
    SAMSA_TRY_ASSIGN(const auto batch, find_batch(entry->offset));
    if (batch && batch->last_offset == entry->offset && batch->max_timestamp == entry->timestamp) {
      from = entry->offset;
    }
  }
  // find_batch checks the index against the log before trusting it.
  SAMSA_TRY_ASSIGN(const auto first, find_batch(from));
  if (!first) return std::optional<TimestampOffset>();
  SAMSA_TRY_ASSIGN(const std::shared_ptr<File> log, impl_->file());
  BatchScanner scanner(*log, first->position.value(), size_bytes(), impl_->path(), 1 << 20);
  RecordReader reader;
  for (;;) {  // each step takes a whole batch of [start, end) or ends the scan
    SAMSA_TRY_ASSIGN(auto step, scanner.next(BatchScanner::Read::header_only));
    if (step.kind == BatchScanner::Kind::end) return std::optional<TimestampOffset>();
    if (step.kind != BatchScanner::Kind::batch) return Status::corruption(step.why);
    const BatchLocation& b = step.location;
    if (b.max_timestamp < target || b.last_offset < start_offset) continue;
    // The batch's bytes, straight from the scanner's buffer (no copy, no second read).
    BatchScanner whole(*log, b.position.value(), b.position.value() + b.size_bytes, impl_->path(),
                       b.size_bytes);
    SAMSA_TRY_ASSIGN(auto batch, whole.next(BatchScanner::Read::whole_batch));
    if (batch.kind != BatchScanner::Kind::batch) return Status::corruption(batch.why);
    SAMSA_TRY_ASSIGN(auto found, first_at_or_after(batch.bytes, b.position, target, start_offset,
                                                   max_decompressed_bytes, reader));
    if (found) return found;
  }
}

Result<SegmentRecovery> Segment::recover(Offset keep_below) {
  Impl& m = *impl_;
  SAMSA_TRY(m.index->reset());
  SAMSA_TRY(m.time_index->reset());
  SAMSA_TRY_ASSIGN(const std::shared_ptr<File> log, m.file());
  SAMSA_TRY_ASSIGN(const std::uint64_t file_size, log->size());
  m.max_ts = -1;
  m.offset_of_max_ts = -1;
  m.first_batch_ts = -1;
  m.bytes_since_last_index_entry = 0;
  SegmentRecovery result;
  std::int64_t next = m.base.value();
  std::uint64_t last_index_entry = 0;
  BatchScanner scanner(*log, 0, file_size, m.log_path, 1 << 20);
  for (;;) {  // each step takes a whole batch of the file's bytes or ends the scan
    SAMSA_TRY_ASSIGN(auto step, scanner.next(BatchScanner::Read::whole_batch));
    if (step.kind == BatchScanner::Kind::end) break;
    if (step.kind != BatchScanner::Kind::batch) {
      result.stopped_by = Status::corruption(step.why);
      break;
    }
    const BatchLocation& b = step.location;
    auto view = RecordBatchView::parse(step.bytes, b.position.value());
    Status valid = view.ok() ? view->check_crc() : view.status();
    if (valid.ok() && (b.base_offset.value() < next || b.last_offset - m.base > INT32_MAX)) {
      valid = Status::corruption(fmt::format(
          "batch at position {} has offsets [{}, {}] where offset {} or more was expected",
          b.position.value(), b.base_offset.value(), b.last_offset.value(), next));
    }
    if (!valid.ok()) {
      result.stopped_by = valid.with_context(m.log_path);
      break;
    }
    if (result.batches == 0) m.first_batch_ts = b.max_timestamp.value();
    m.note_timestamp(b.max_timestamp, b.last_offset);
    // Kafka's LogSegment.recover indexes per batch, by bytes since the last entry.
    if (result.valid_bytes - last_index_entry > m.config.index_interval_bytes) {
      if (!m.index->full()) m.index->append({b.last_offset, Position(result.valid_bytes)});
      m.maybe_time_entry();
      last_index_entry = result.valid_bytes;
    }
    result.valid_bytes += b.size_bytes;
    ++result.batches;
    next = b.last_offset.value() + 1;
  }
  m.bytes_since_last_index_entry = result.valid_bytes - last_index_entry;
  result.next_offset = Offset(next);
  result.truncated_bytes = file_size - result.valid_bytes;
  if (result.truncated_bytes > 0 && keep_below != Offset::none() &&
      result.next_offset < keep_below) {
    const std::string flushed =
        keep_below.value() == std::numeric_limits<std::int64_t>::max()
            ? std::string("the whole segment was flushed")
            : fmt::format("offsets below {} were flushed", keep_below.value());
    return Status::corruption(
        fmt::format("{} ({}; the valid data ends at offset {}, byte {})",
                    result.stopped_by.ok() ? m.log_path : result.stopped_by.message(), flushed,
                    next, result.valid_bytes));
  }
  if (result.truncated_bytes > 0) SAMSA_TRY(log->truncate(result.valid_bytes));
  m.open_scan = Status();
  m.next_offset.store(next, std::memory_order_release);
  m.size.store(result.valid_bytes, std::memory_order_release);
  return result;
}

Result<std::uint64_t> Segment::truncate_to(Offset offset) {
  Impl& m = *impl_;
  SAMSA_TRY(m.pin());
  m.active = true;  // the log's last segment again, whatever is cut
  SAMSA_TRY_ASSIGN(const auto found, find_batch(offset));
  if (!found) return std::uint64_t{0};
  const std::uint64_t old_size = size_bytes();
  const std::uint64_t cut = found->position.value();
  SAMSA_TRY(m.index->truncate_to(offset));
  SAMSA_TRY(m.time_index->truncate_to(offset));
  // Publish the smaller size first: readers must not look past the cut while it happens.
  m.size.store(cut, std::memory_order_release);
  SAMSA_TRY(m.pinned->truncate(cut));
  if (cut == 0) m.first_batch_ts = -1;
  SAMSA_TRY(m.load_tail(*m.pinned));
  return old_size - cut;
}

Status Segment::sync() {
  if (impl_->pinned) return impl_->pinned->sync();
  // Sealed: roll() synced it; a sync of a handle to the same file is still a sync of it.
  SAMSA_TRY_ASSIGN(const std::shared_ptr<File> log, impl_->file());
  return log->sync();
}

Status Segment::flush_indexes() {
  // An inactive segment's index files hold exactly their entries (Kafka trims at roll).
  if (!impl_->active) {
    SAMSA_TRY(impl_->index->trim());
    SAMSA_TRY(impl_->time_index->trim());
    return impl_->release_index_files();
  }
  SAMSA_TRY(impl_->index->flush());
  return impl_->time_index->flush();
}

Status Segment::roll() {
  Impl& m = *impl_;
  if (!m.active) return Status();
  m.maybe_time_entry();  // Kafka's final time index entry when a segment becomes inactive
  SAMSA_TRY(m.pinned->sync());
  SAMSA_TRY(m.index->trim());
  SAMSA_TRY(m.time_index->trim());
  m.active = false;
  // Sealed: its descriptors go, the .log's to the cache (it is the most recently used).
  SAMSA_TRY(m.release_index_files());
  m.unpin_to_cache();
  return Status();
}

Status Segment::close() {
  Impl& m = *impl_;
  if (m.closed) return Status();
  Status s = roll();
  if (Status c = m.index->close(); s.ok()) s = c;
  if (Status c = m.time_index->close(); s.ok()) s = c;
  m.closed = true;
  if (const std::shared_ptr<File> log = m.take_file()) {
    if (Status c = log->close(); s.ok()) s = c;
  }
  return s;
}

Status Segment::rename_to_deleted() {
  Impl& m = *impl_;
  m.active = false;  // gone from the log: no final index entries, no trimming
  SAMSA_TRY(m.env->rename(m.log_path, m.log_path + ".deleted"));
  {
    std::lock_guard lock(m.path_mu);
    m.log_path += ".deleted";
  }
  SAMSA_TRY(m.index->rename_file(m.index->path() + ".deleted"));
  return m.time_index->rename_file(m.time_index->path() + ".deleted");
}

Status Segment::remove_files() {
  Impl& m = *impl_;
  Status s = m.index->remove();
  if (Status r = m.time_index->remove(); s.ok()) s = r;
  m.closed = true;
  if (const std::shared_ptr<File> log = m.take_file()) {
    if (Status c = log->close(); s.ok()) s = c;
  }
  if (Status r = m.env->remove(m.log_path); s.ok()) s = r;
  return s;
}

}  // namespace samsa
