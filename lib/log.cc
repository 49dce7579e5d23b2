// Log: appends, reads, truncation, retention. Group commit (the durable policy's waiting,
// writing and fdatasync for a group) is in log_group_commit.cc, open and recovery in
// log_recovery.cc.
#include "samsa/log.h"

#include <fmt/format.h>

#include <algorithm>

#include "batch_scanner.h"
#include "checkpoint.h"
#include "invariant.h"
#include "log_impl.h"

namespace samsa {

std::string_view to_string(FlushPolicy policy) {
  switch (policy) {
    case FlushPolicy::durable:
      return "durable";
    case FlushPolicy::interval_may_lose_recent:
      return "interval_may_lose_recent";
    case FlushPolicy::manual_may_lose_unflushed:
      return "manual_may_lose_unflushed";
  }
  return "unknown";
}

Result<CleanupPolicy> CleanupPolicy::parse(std::string_view text) {
  if (text == "delete") return CleanupPolicy{.delete_old = true, .compact = false};
  if (text == "compact") return CleanupPolicy{.delete_old = false, .compact = true};
  if (text == "compact,delete" || text == "delete,compact") {
    return CleanupPolicy{.delete_old = true, .compact = true};
  }
  return Status::invalid_argument(
      fmt::format("cleanup policy \"{}\": expected delete, compact or compact,delete", text));
}

std::string CleanupPolicy::to_string() const {
  if (delete_old && compact) return "compact,delete";
  if (compact) return "compact";
  return delete_old ? "delete" : "none";
}

Status LogSlice::read_into(std::vector<std::byte>& out) const {
  if (size_bytes == 0) return Status();
  const std::size_t old = out.size();
  out.resize(old + static_cast<std::size_t>(size_bytes));
  Status s = read_into(MutableByteSpan(out).subspan(old));
  if (!s.ok()) out.resize(old);
  return s;
}

Status LogSlice::read_into(MutableByteSpan out) const {
  if (size_bytes == 0) return Status();
  if (out.size() < size_bytes) {
    return Status::invalid_argument(
        fmt::format("read_into: a slice of {} bytes into {} bytes", size_bytes, out.size()));
  }
  auto got = file->read_at(position.value(), out.first(static_cast<std::size_t>(size_bytes)));
  if (!got.ok()) return got.status();
  if (*got != size_bytes) {
    return Status::io_error(fmt::format("{}: read {} of {} bytes at position {}", file->path(),
                                        *got, size_bytes, position));
  }
  return Status();
}

Log::Log(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Log::~Log() {
  (void)close();
}

Result<std::unique_ptr<Log>> Log::open(Env& env, const std::string& dir, LogConfig config,
                                       Clock& clock, LogOpenOptions options) {
  auto impl = std::make_unique<Impl>(env, clock);
  impl->dir = dir;
  impl->config = std::move(config);
  impl->options = options;
  SAMSA_TRY(impl->open());
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

const RecoveryReport& Log::recovery_report() const {
  return impl_->report;
}
const std::string& Log::dir() const {
  return impl_->dir;
}
const LogConfig& Log::config() const {
  return impl_->config;
}
Offset Log::log_start_offset() const {
  return impl_->log_start.load();
}
Offset Log::log_end_offset() const {
  return impl_->log_end.load();
}
Offset Log::recovery_point() const {
  return impl_->recovery_point.load();
}

std::uint64_t Log::size_bytes() const {
  std::uint64_t total = 0;
  for (const auto& s : *impl_->snapshot()) total += s->size_bytes();
  return total;
}

std::vector<SegmentInfo> Log::segments() const {
  std::vector<SegmentInfo> out;
  for (const auto& s : *impl_->snapshot()) {
    out.push_back(
        {s->base_offset(), s->next_offset(), s->size_bytes(), s->max_timestamp(), s->log_path()});
  }
  return out;
}

Status Log::failure() const {
  std::lock_guard lock(impl_->sync_mu);
  return impl_->failure;
}

std::size_t Log::waiting_for_sync() const {
  std::lock_guard lock(impl_->sync_mu);
  return impl_->group_commit.waiting();
}

// ------------------------------------------------------------------------ writes

void Log::Impl::record_failure(const Status& s) {
  if (failure.ok()) {
    failure = Status::failed_precondition(fmt::format(
        "log {} stopped accepting writes after: {}; reopen it to recover", dir, s.to_string()));
    failed = true;
  }
}

Status Log::Impl::fail(Status s) {
  internal::Wakes wakes;
  std::unique_lock lock(sync_mu);
  record_failure(s);
  // All but the leader's claimed ones: it sees `failed` after its round.
  group_commit.failed(failure, wakes);
  gather_cv.notify_all();
  lock.unlock();
  wake(wakes);
  return s;
}

Status Log::Impl::check_writable() const {
  if (closed) return Status::failed_precondition(fmt::format("log {} is closed", dir));
  if (failed.load()) {
    std::lock_guard lock(sync_mu);
    return failure;
  }
  return Status();
}

void Log::Impl::notify_data() {
  { std::lock_guard lock(data_mu); }
  data_cv.notify_all();
}

void Log::Impl::check_offsets() const {
  const Offset start = log_start.load();
  const Offset end = log_end.load();
  const Offset durable = recovery_point.load();
  SAMSA_ASSERT(start <= end, "log {}: log start {} <= log end {}", dir, start, end);
  SAMSA_ASSERT(durable <= end, "log {}: recovery point {} <= log end {}", dir, durable, end);
}

void Log::Impl::store_log_start(Offset start) {
  log_start.store(start, std::memory_order_release);
  check_offsets();
}

void Log::Impl::store_log_end(Offset end) {
  log_end.store(end, std::memory_order_release);
  check_offsets();
}

Status Log::Impl::write_checkpoints() {
  const std::vector<internal::CheckpointEntry> recovery = {
      {config.topic, config.partition, recovery_point.load().value()}};
  const std::vector<internal::CheckpointEntry> start = {
      {config.topic, config.partition, log_start.load().value()}};
  Status s =
      internal::write_offset_checkpoint(env, path("recovery-point-offset-checkpoint"), recovery);
  if (s.ok()) {
    s = internal::write_offset_checkpoint(env, path("log-start-offset-checkpoint"), start);
  }
  // A checkpoint is written with fsyncs; one that fails stops the log like any fsync.
  return s.ok() ? s : fail(s);
}

Status Log::Impl::roll(Offset new_base) {
  const std::shared_ptr<Segment> old = active();
  // The old segment becomes durable (log and trimmed indexes) before the new one exists, so
  // the recovery point can move to its end.
  if (Status s = old->roll(); !s.ok()) return fail(s);
  SAMSA_TRY_ASSIGN(std::unique_ptr<Segment> fresh,
                   Segment::create(env, dir, new_base, segment_config));
  if (Status s = env.sync_dir(dir); !s.ok()) return fail(s);
  SegmentList list = *segments;
  list.push_back(std::move(fresh));
  publish(std::move(list));
  active_created_ms = clock.now().value();
  {
    std::lock_guard lock(sync_mu);
    group_commit.raise_durable(old->next_offset());
    publish_recovery_point();
  }
  if (roll_listener) roll_listener(new_base);
  return write_checkpoints();
}

Status Log::Impl::maybe_roll(std::uint64_t incoming_bytes, Offset last_offset, Timestamp max_ts) {
  const std::shared_ptr<Segment> seg = active();
  if (seg->empty()) return Status();
  const Timestamp first = seg->first_batch_timestamp();
  const bool too_big =
      seg->size_bytes() > config.segment_bytes - std::min(incoming_bytes, config.segment_bytes);
  // Kafka's timeWaitedForRoll: the incoming timestamp minus the first batch's, or the wall
  // clock minus the segment's creation when there are no timestamps.
  const std::int64_t waited = first.value() >= 0 && max_ts.value() >= 0
                                  ? max_ts.value() - first.value()
                                  : clock.now().value() - active_created_ms;
  const bool too_old = waited > config.segment_ms;
  const bool index_full = seg->offset_index().full() || seg->time_index().full();
  const bool offset_overflow = last_offset - seg->base_offset() > INT32_MAX;
  if (!(too_big || too_old || index_full || offset_overflow)) return Status();
  return roll(log_end.load());
}

namespace {

// Batches that keep their own offsets must increase and start at or after the log end.
Status check_kept_offsets(ByteSpan batches, const BatchSpans& spans, Offset log_end,
                          const std::string& dir) {
  Offset next = log_end;
  for (const auto& [at, size] : spans) {
    const auto view = RecordBatchView::parse(batches.subspan(at, size)).value();
    if (view.base_offset() < next) {
      return Status::invalid_argument(fmt::format(
          "append to log {} keeping offsets: the batch at position {} has base offset {}, below "
          "the next offset {}",
          dir, at, view.base_offset(), next));
    }
    next = view.next_offset();
  }
  return Status();
}

// Validates every batch of an append (framing, CRC, records, size). Runs before the write
// lock is taken: the expensive part runs in parallel across appenders.
// A compressed batch decompresses within config.max_decompressed_bytes(); one that passes it
// is refused naming the log (the partition's directory, "<topic>-<N>").
// A leader's append (assign_offsets, Kafka's validateAndAssignOffsets) to a CreateTime log
// also sets each batch's max timestamp to its records' largest, as Kafka's LogValidator
// does: clients that send -1 there (Sarama 1.22) would otherwise hide the batch from
// offset_for_timestamp. The records are decoded for validation anyway (decompressed, when
// compressed), so finding the largest costs one comparison a record; the CRC is recomputed
// only for a batch whose header was wrong. A follower keeps the leader's bytes.
Status validate_batches(MutableByteSpan batches, const AppendOptions& options,
                        const LogConfig& config, std::string_view dir, BatchSpans& spans,
                        std::int64_t& records) {
  const std::uint32_t max_batch_bytes = config.max_batch_bytes;
  const bool set_max_timestamps =
      options.assign_offsets && config.timestamp_type == TimestampType::create_time;
  ValidateOptions validate{.producer_batch = options.producer_batches,
                           .max_decompressed_bytes = config.max_decompressed_bytes()};
  for (std::size_t at = 0; at < batches.size();) {
    // The size first (framing only): an oversized batch is not decompressed at all.
    SAMSA_TRY_ASSIGN(const RecordBatchView view, RecordBatchView::parse(batches.subspan(at), at));
    if (view.size_bytes() > max_batch_bytes) {
      return Status::record_too_large(
          fmt::format("batch at position {} is {} bytes, more than max_batch_bytes {}", at,
                      view.size_bytes(), max_batch_bytes));
    }
    SAMSA_TRY(view.check_crc());
    auto max_timestamp = view.check_records_max_timestamp(validate);
    if (max_timestamp.status().code() == StatusCode::decompression_limit) {
      return max_timestamp.status().with_context(
          fmt::format("append to log {} (decompressed_bytes_factor {} x max_batch_bytes {})", dir,
                      config.decompressed_bytes_factor, max_batch_bytes));
    }
    if (!max_timestamp.ok()) return max_timestamp.status();
    const std::size_t size = view.size_bytes();
    records += view.records_count();
    if (set_max_timestamps) {
      set_max_timestamp(batches.subspan(at, size), TimestampType::create_time, *max_timestamp);
    }
    spans.emplace_back(at, size);
    at += size;
  }
  return Status();
}

}  // namespace

Result<AppendInfo> Log::append(MutableByteSpan batches, const AppendOptions& options) {
  if (batches.empty()) return Status::invalid_argument("append of no batches");
  BatchSpans spans;
  std::int64_t records = 0;
  SAMSA_TRY(validate_batches(batches, options, impl_->config, impl_->dir, spans, records));
  return impl_->append_validated(batches, spans, records, options);
}

Result<AppendInfo> Log::append(RecordBatchBuilder& builder, const AppendOptions& options) {
  SAMSA_TRY_ASSIGN(MutableByteSpan batch, builder.build());
  // samsa encoded this batch itself (framing, CRC, deltas are right by construction): only
  // the size limit is left to check. Decoding every record again cost more than encoding.
  if (batch.size() > impl_->config.max_batch_bytes) {
    return Status::record_too_large(
        fmt::format("batch at position 0 is {} bytes, more than max_batch_bytes {}", batch.size(),
                    impl_->config.max_batch_bytes));
  }
  const BatchSpans spans = {{0, batch.size()}};
  AppendOptions trusted = options;
  trusted.producer_batches = false;  // deltas may be explicit (compaction)
  return impl_->append_validated(batch, spans, builder.record_count(), trusted);
}

// Takes write_mu and writes (write_locked), then syncs as the flush policy says. Under the
// durable policy the append goes to the group commit leader instead (sync_to), which writes
// the whole group's appends under one hold of write_mu before its fdatasync: appenders no
// longer queue on write_mu one after another.
Result<AppendInfo> Log::Impl::append_validated(MutableByteSpan batches, const BatchSpans& spans,
                                               std::int64_t records, const AppendOptions& request) {
  Impl& m = *this;
  if (m.config.flush_policy == FlushPolicy::durable) {
    // While the leader waits for its group the write mutex is free: an appender that finds
    // it so writes its own append (its write overlaps the others' encoding instead of
    // adding to the leader's turn) and only waits for the sync. Never blocks on the mutex.
    std::unique_lock lock(m.write_mu, std::try_to_lock);
    if (lock.owns_lock()) {
      SAMSA_TRY_ASSIGN(AppendInfo info, m.write_locked(batches, spans, records, request));
      const std::uint64_t generation = m.truncations.load();
      lock.unlock();
      SAMSA_TRY(m.sync_to(info.last_offset + 1, generation));
      return info;
    }
    WriteRequest write{batches, &spans, records, &request, AppendInfo()};
    SAMSA_TRY(m.commit(&write, Offset::none(), 0));
    return write.info;
  }
  std::unique_lock lock(m.write_mu);
  SAMSA_TRY_ASSIGN(AppendInfo info, m.write_locked(batches, spans, records, request));
  const std::uint64_t generation = m.truncations.load();
  bool need_sync = false;
  if (m.config.flush_policy == FlushPolicy::interval_may_lose_recent) {
    m.unflushed_bytes += batches.size();
    const std::int64_t now_ns = m.clock.monotonic_ns();
    if (m.unflushed_bytes >= m.config.flush_interval_bytes ||
        now_ns - m.last_flush_ns >= m.config.flush_interval_ms * 1'000'000) {
      need_sync = true;
      m.unflushed_bytes = 0;
      m.last_flush_ns = now_ns;
    }
  }
  lock.unlock();
  if (need_sync) SAMSA_TRY(m.sync_to(info.last_offset + 1, generation));
  return info;
}

// With write_mu held: assigns offsets, stamps, writes and publishes one append.
Result<AppendInfo> Log::Impl::write_locked(MutableByteSpan batches, const BatchSpans& spans,
                                           std::int64_t records, const AppendOptions& request) {
  Impl& m = *this;
  SAMSA_TRY(m.check_writable());
  Offset first = m.log_end.load();
  if (!request.assign_offsets) {
    SAMSA_TRY(check_kept_offsets(batches, spans, m.log_end.load(), m.dir));
    first = RecordBatchView::parse(batches.subspan(spans.front().first)).value().base_offset();
  }
  std::int64_t next = first.value();
  Timestamp max_ts = Timestamp::none();
  Offset offset_of_max_ts = first;
  const Timestamp now = m.clock.now();
  AppendInfo info;
  std::vector<RecordBatchView> views;
  if (request.hook != nullptr) views.reserve(spans.size());
  for (const auto& [at, size] : spans) {
    MutableByteSpan batch = batches.subspan(at, size);
    if (request.assign_offsets) set_base_offset(batch, Offset(next));
    if (request.leader_epoch != LeaderEpoch::none()) {
      set_partition_leader_epoch(batch, request.leader_epoch);
    }
    if (m.config.timestamp_type == TimestampType::log_append_time) {
      set_max_timestamp(batch, TimestampType::log_append_time, now);
      info.log_append_time = now;
    }
    const auto view = RecordBatchView::parse(batch).value();
    if (request.hook != nullptr) views.push_back(view);
    next = view.last_offset().value() + 1;
    if (view.max_timestamp() > max_ts) {
      max_ts = view.max_timestamp();
      offset_of_max_ts = view.last_offset();
    }
  }
  const Offset last(next - 1);
  if (request.hook != nullptr) SAMSA_TRY(request.hook->before_write(views));
  if (Status s = m.maybe_roll(batches.size(), last, max_ts); !s.ok()) return s;
  const std::shared_ptr<Segment> seg = m.active();
  info.segment_base_offset = seg->base_offset();
  info.position = Position(seg->size_bytes());
  if (Status s = seg->append(batches, first, last, max_ts, offset_of_max_ts); !s.ok()) {
    // The segment cuts back what a failed write left. If the file does not end where it
    // did, it no longer ends on a whole batch: stop, and let reopening recover.
    auto file = seg->log_file();  // the active segment's: pinned, never opened here
    auto size = file.ok() ? (*file)->size() : Result<std::uint64_t>(file.status());
    if (!size.ok() || *size != info.position.value()) return m.fail(s);
    return s;
  }
  m.store_log_end(Offset(next));
  if (request.hook != nullptr) request.hook->after_write(views, Offset(next));
  m.notify_data();
  info.first_offset = first;
  info.last_offset = last;
  info.bytes = batches.size();
  info.batches = static_cast<std::int32_t>(spans.size());
  info.records = records;
  return info;
}

Status Log::flush() {
  Impl& m = *impl_;
  std::uint64_t generation = 0;
  Offset end;
  {
    std::lock_guard lock(m.write_mu);
    SAMSA_TRY(m.check_writable());
    generation = m.truncations.load();
    end = m.log_end.load();
  }
  SAMSA_TRY(m.sync_to(end, generation));
  std::lock_guard lock(m.write_mu);
  if (Status s = m.active()->flush_indexes(); !s.ok()) return m.fail(s);
  return m.write_checkpoints();
}

Status Log::sync_to(Offset end) {
  Impl& m = *impl_;
  const std::uint64_t generation = m.truncations.load();
  if (end > m.log_end.load()) {
    return Status::out_of_range(
        fmt::format("sync_to({}) of log {} past its end {}", end, m.dir, m.log_end.load()));
  }
  return m.sync_to(end, generation);
}

void Log::set_roll_listener(std::function<void(Offset new_base)> listener) {
  std::lock_guard lock(impl_->write_mu);
  impl_->roll_listener = std::move(listener);
}

// ------------------------------------------------------------------------ reads

namespace {

// Where a read at `offset` starts: the batch holding it in the last segment whose base
// offset is <= offset, or else the first batch of a later segment (past a gap left by
// compaction). nullopt when no segment has a batch at or after `offset`.
using internal::ReadStart;
Result<std::optional<ReadStart>> find_read_start(const SegmentList& segments, Offset offset) {
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](Offset o, const auto& s) { return o < s->base_offset(); });
  if (it != segments.begin()) --it;
  for (; it != segments.end(); ++it) {
    SAMSA_TRY_ASSIGN(auto first, (*it)->find_batch(offset));
    if (first) return std::optional<ReadStart>(ReadStart{it->get(), *first, Offset::none()});
  }
  return std::optional<ReadStart>();
}

// Log::read_into's walk: the whole batches at the start of `bytes`, read from `position` of
// `seg`, whose last offset is below `bound`. `to_segment_end`: the bytes run to the end of
// the segment as published, so a batch they cut is corruption, not the buffer's end.
Result<LogRead> walk_batches(const Segment& seg, ByteSpan bytes, Position position, Offset bound,
                             bool to_segment_end) {
  namespace L = batch_layout;
  // Read after the bytes: it covers every batch they hold (published before their size).
  const Offset segment_next = seg.next_offset();
  const std::string path = seg.log_path();
  LogRead result;
  Offset previous_last = seg.base_offset() - 1;
  std::size_t at = 0;
  // Bounded: each round takes a whole batch, at least kHeaderSize bytes, or ends the walk.
  while (at < bytes.size()) {
    const std::size_t remaining = bytes.size() - at;
    const auto step =
        internal::inspect_batch_header(bytes.subspan(at, std::min(L::kHeaderSize, remaining)),
                                       position.value() + at, remaining, path);
    if (step.kind == internal::BatchScanner::Kind::torn) {
      if (to_segment_end) return Status::corruption(step.why);
      break;  // the buffer ends inside this batch
    }
    if (step.kind != internal::BatchScanner::Kind::batch) return Status::corruption(step.why);
    const BatchLocation& b = step.location;
    SAMSA_TRY(internal::check_batch_offsets(b, previous_last, segment_next, path));
    if (b.last_offset >= bound) break;
    if (at == 0) result.first_offset = b.base_offset;
    previous_last = b.last_offset;
    at += b.size_bytes;
  }
  if (at > 0) result.next_offset = previous_last + 1;
  result.size_bytes = at;
  return result;
}

}  // namespace

Result<Offset> Log::Impl::read_bound(Offset offset, const ReadOptions& read_options) const {
  const Offset start = log_start.load(std::memory_order_acquire);
  const Offset end = log_end.load(std::memory_order_acquire);
  if (offset < start || offset > end) {
    return Status::out_of_range(
        fmt::format("offset {} is outside log {}'s offsets [{}, {})", offset, dir, start, end));
  }
  return std::min(read_options.max_offset.value_or(end), end);
}

Result<std::optional<ReadStart>> Log::Impl::read_start(const SegmentList& segs, Offset offset,
                                                       const ReadOptions& read_options) const {
  SAMSA_TRY_ASSIGN(const Offset bound, read_bound(offset, read_options));
  if (offset >= bound) return std::optional<ReadStart>();
  SAMSA_TRY_ASSIGN(auto start, find_read_start(segs, offset));
  if (!start || start->first.last_offset >= bound) return std::optional<ReadStart>();
  if (!read_options.min_one_batch && start->first.size_bytes > read_options.max_bytes) {
    return std::optional<ReadStart>();
  }
  start->bound = bound;
  return start;
}

Result<LogSlice> Log::read(Offset offset, const ReadOptions& options) const {
  const Impl& m = *impl_;
  const auto segments = m.snapshot();
  SAMSA_TRY_ASSIGN(const auto start, m.read_start(*segments, offset, options));
  if (!start) return LogSlice();
  // Named, not a structured binding: clang (before 16) refuses one captured by a lambda.
  const Segment& seg = *start->segment;
  const BatchLocation& first = start->first;
  const Offset bound = start->bound;
  LogSlice slice;
  std::uint64_t bytes = 0;
  Offset next = first.base_offset;
  SAMSA_TRY(seg.for_each_batch(first.position, [&](const BatchLocation& b) {
    if (b.last_offset >= bound) return false;
    if (bytes > 0 && bytes + b.size_bytes > options.max_bytes) return false;
    bytes += b.size_bytes;
    next = b.last_offset + 1;
    // Full: no further batch can fit, so do not read its header to find out (a point
    // read, max_bytes 1, reads one header instead of two).
    return bytes < options.max_bytes;
  }));
  slice.first_offset = first.base_offset;
  slice.next_offset = next;
  SAMSA_TRY_ASSIGN(slice.file, seg.log_file());
  slice.position = first.position;
  slice.size_bytes = bytes;
  return slice;
}

Result<LogRead> Log::read_into(Offset offset, MutableByteSpan buffer,
                               const ReadOptions& options) const {
  const Impl& m = *impl_;
  const auto segments = m.snapshot();
  // Batches appended from here on end at or past the bound, so the walk stops before them.
  SAMSA_TRY_ASSIGN(const auto start, m.read_start(*segments, offset, options));
  if (!start) return LogRead();
  // Named, not a structured binding: clang (before 16) refuses one captured by a lambda.
  const Segment& seg = *start->segment;
  const BatchLocation& first = start->first;
  const Offset bound = start->bound;
  LogRead result;
  if (first.size_bytes > buffer.size()) {
    result.needed_bytes = first.size_bytes;
    return result;
  }
  // max_bytes, or the whole first batch when it is larger (then min_one_batch is set).
  const std::uint64_t limit_bytes = std::max<std::uint64_t>(options.max_bytes, first.size_bytes);
  // Published bytes are whole batches, and appends only add to them. A truncation racing
  // this read may cut them (the segment size can even drop below `first`).
  const std::uint64_t segment_size = seg.size_bytes();
  const std::uint64_t segment_left =
      segment_size > first.position.value() ? segment_size - first.position.value() : 0;
  const auto want = static_cast<std::size_t>(
      std::min({static_cast<std::uint64_t>(buffer.size()), limit_bytes, segment_left}));
  SAMSA_TRY_ASSIGN(const std::size_t got, seg.read_at(first.position, buffer.first(want)));
  if (got < first.size_bytes) {
    return Status::corruption(fmt::format(
        "{}: batch at position {} of {} bytes: the segment holds only {} (a racing truncation?)",
        seg.log_path(), first.position, first.size_bytes, got));
  }
  const bool to_segment_end = want == segment_left || got < want;
  return walk_batches(seg, ByteSpan(buffer.first(got)), first.position, bound, to_segment_end);
}

bool Log::wait_for_data(Offset offset, std::chrono::milliseconds timeout) const {
  const Impl& m = *impl_;
  std::unique_lock lock(m.data_mu);
  return m.data_cv.wait_for(lock, timeout, [&] { return m.log_end.load() > offset; });
}

Result<std::optional<TimestampOffset>> Log::offset_for_timestamp(Timestamp ts) const {
  const Impl& m = *impl_;
  if (ts == kEarliestTimestamp) {
    return std::optional<TimestampOffset>(TimestampOffset{Timestamp::none(), log_start_offset()});
  }
  if (ts == kLatestTimestamp) {
    return std::optional<TimestampOffset>(TimestampOffset{Timestamp::none(), log_end_offset()});
  }
  const Offset start = log_start_offset();
  for (const auto& seg : *m.snapshot()) {
    if (seg->next_offset() <= start || seg->max_timestamp().timestamp < ts) continue;
    SAMSA_TRY_ASSIGN(auto found,
                     seg->find_offset_by_timestamp(ts, start, m.config.max_decompressed_bytes()));
    if (found) return found;
  }
  return std::optional<TimestampOffset>();
}

// ------------------------------------------------------------------------ truncation

Status Log::Impl::delete_segment(const std::shared_ptr<Segment>& segment) {
  if (Status s = segment->rename_to_deleted(); !s.ok()) return fail(s);
  pending_deletes.push_back({segment, clock.now().value() + config.file_delete_delay_ms});
  return Status();
}

Status Log::truncate_to(Offset offset) {
  Impl& m = *impl_;
  std::lock_guard lock(m.write_mu);
  SAMSA_TRY(m.check_writable());
  if (offset < Offset(0)) return Status::invalid_argument("truncate_to a negative offset");
  if (offset >= m.log_end.load()) return Status();
  return m.truncate_locked(offset, /*fully=*/false);
}

Status Log::truncate_fully_and_start_at(Offset offset) {
  Impl& m = *impl_;
  std::lock_guard lock(m.write_mu);
  SAMSA_TRY(m.check_writable());
  if (offset < Offset(0)) {
    return Status::invalid_argument("truncate_fully_and_start_at a negative offset");
  }
  return m.truncate_locked(offset, /*fully=*/true);
}

Status Log::Impl::truncate_locked(Offset offset, bool fully) {
  Impl& m = *this;
  SegmentList keep;
  std::vector<std::shared_ptr<Segment>> drop;
  const bool everything = fully || offset <= m.log_start.load();
  for (const auto& seg : *m.segments) {
    (everything || seg->base_offset() >= offset ? drop : keep).push_back(seg);
  }
  // Readers stop at the new end, a batch boundary, before any byte disappears.
  Offset new_end = offset;
  if (!keep.empty()) {
    SAMSA_TRY_ASSIGN(const auto holding, keep.back()->find_batch(offset));
    if (holding) new_end = std::min(new_end, holding->base_offset);
  }
  // Kafka's maybeTruncateCheckpoint, before anything is cut: offsets appended again after
  // the truncation must not pass for cleaned.
  SAMSA_TRY_ASSIGN(const std::optional<Offset> cleaned, m.read_cleaner_checkpoint());
  if (cleaned && *cleaned > new_end) {
    if (Status s = m.write_cleaner_checkpoint(new_end); !s.ok()) return m.fail(s);
  }
  // The recovery point drops before the log end, and the log start before the log end:
  // each store keeps log start <= log end and recovery point <= log end.
  m.note_truncation(std::min(new_end, m.log_end.load()));
  if (everything && offset > m.log_end.load()) {
    m.store_log_end(new_end);  // the log restarts past its old end: end first
    m.store_log_start(offset);
  } else {
    if (everything) m.store_log_start(offset);
    m.store_log_end(new_end);
  }
  // Newest segment first, then the directory synced, then the cut: whatever fails or
  // crashes midway, what is on disk is a prefix of the log (the truncation maybe undone),
  // never a log with a hole.
  for (auto it = drop.rbegin(); it != drop.rend(); ++it) SAMSA_TRY(m.delete_segment(*it));
  if (keep.empty()) {
    // Renamed .deleted already: the fresh segment may take the same base offset.
    SAMSA_TRY_ASSIGN(std::unique_ptr<Segment> fresh,
                     Segment::create(m.env, m.dir, offset, m.segment_config));
    keep.push_back(std::move(fresh));
  }
  m.publish(keep);
  if (Status s = m.env.sync_dir(m.dir); !s.ok()) return m.fail(s);
  if (!everything) {
    if (auto cut = keep.back()->truncate_to(offset); !cut.ok()) return m.fail(cut.status());
    if (Status s = keep.back()->sync(); !s.ok()) return m.fail(s);
  }
  // The end may sit below `offset` (the whole batch holding it went, or a gap compaction
  // left): nothing at or past it is durable, or the next durable append would skip its
  // fdatasync.
  const Offset end = keep.back()->next_offset();
  m.note_truncation(end);
  m.store_log_end(end);
  return m.write_checkpoints();
}

Status Log::delete_records_before(Offset offset) {
  Impl& m = *impl_;
  std::lock_guard lock(m.write_mu);
  SAMSA_TRY(m.check_writable());
  if (offset > m.log_end.load()) {
    return Status::out_of_range(fmt::format("delete_records_before {}: past log {}'s end {}",
                                            offset, m.dir, m.log_end.load()));
  }
  if (offset <= m.log_start.load()) return Status();
  m.store_log_start(offset);
  return m.write_checkpoints();
}

// ------------------------------------------------------------------------ retention

Result<RetentionReport> Log::apply_retention(std::optional<Offset> upper_bound) {
  Impl& m = *impl_;
  std::unique_lock lock(m.write_mu);
  SAMSA_TRY(m.check_writable());
  RetentionReport report;
  const std::int64_t now = m.clock.now().value();
  const Offset bound = std::min(upper_bound.value_or(m.log_end.load()), m.log_end.load());
  std::uint64_t total = 0;
  for (const auto& seg : *m.segments) total += seg->size_bytes();
  SegmentList keep = *m.segments;
  std::size_t deletable = 0;
  for (; deletable < keep.size(); ++deletable) {
    const Segment& seg = *keep[deletable];
    if (deletable + 1 == keep.size()) {
      // Everything is deletable, the active segment too: Kafka rolls it first, so that the
      // log keeps one (empty) segment at its end.
      if (seg.empty()) break;
      const bool expired_all = seg.next_offset() <= bound;
      if (!expired_all) break;
    }
    if (seg.next_offset() > bound) break;
    const bool below_start = seg.next_offset() <= m.log_start.load();
    const bool over_size =
        m.config.cleanup_policy.delete_old && m.config.retention_bytes >= 0 &&
        total >= static_cast<std::uint64_t>(m.config.retention_bytes) + seg.size_bytes();
    const Timestamp max_ts = seg.max_timestamp().timestamp;
    const bool expired = m.config.cleanup_policy.delete_old && m.config.retention_ms >= 0 &&
                         max_ts.value() >= 0 && now - max_ts.value() > m.config.retention_ms;
    if (!(below_start || over_size || expired)) break;
    total -= seg.size_bytes();
    report.bytes_deleted += seg.size_bytes();
  }
  if (deletable == keep.size()) {
    SAMSA_TRY(m.roll(m.log_end.load()));
    keep = *m.segments;
  }
  if (deletable > 0) {
    const std::vector<std::shared_ptr<Segment>> drop(keep.begin(),
                                                     keep.begin() + static_cast<long>(deletable));
    keep.erase(keep.begin(), keep.begin() + static_cast<long>(deletable));
    // Kafka advances the log start offset before deleting.
    m.store_log_start(std::max(m.log_start.load(), keep.front()->base_offset()));
    m.publish(keep);
    for (const auto& seg : drop) SAMSA_TRY(m.delete_segment(seg));
    if (Status s = m.env.sync_dir(m.dir); !s.ok()) return m.fail(s);
    SAMSA_TRY(m.write_checkpoints());
    report.segments_deleted = static_cast<std::int64_t>(deletable);
  }
  // Remove .deleted files whose delay passed.
  auto& pending = m.pending_deletes;
  for (auto it = pending.begin(); it != pending.end();) {
    if (it->remove_after_ms > now) {
      ++it;
      continue;
    }
    SAMSA_TRY(it->segment->remove_files());
    report.files_removed += 3;
    it = pending.erase(it);
  }
  report.log_start_offset = m.log_start.load();
  const bool interval =
      m.config.flush_policy == FlushPolicy::interval_may_lose_recent &&
      m.clock.monotonic_ns() - m.last_flush_ns >= m.config.flush_interval_ms * 1'000'000;
  lock.unlock();
  if (interval) SAMSA_TRY(flush());
  return report;
}

// ------------------------------------------------------------------------ close

Status Log::close() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.write_mu);
    if (m.closed) return Status();
  }
  Status result;
  if (!m.failed.load()) result = flush();
  std::lock_guard lock(m.write_mu);
  m.closed = true;
  for (const auto& seg : *m.segments) {
    if (Status s = seg->close(); result.ok()) result = s;
  }
  for (const auto& p : m.pending_deletes) (void)p.segment->close();
  // The marker is written last, and only when everything before it is durable.
  if (result.ok() && !m.failed.load()) {
    result = write_file_atomically(m.env, m.path(internal::kCleanShutdownFile),
                                   as_bytes(internal::kCleanShutdownContent));
  }
  m.dir_lock.reset();
  m.notify_data();
  return result;
}

}  // namespace samsa
