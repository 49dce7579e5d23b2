// RaftDriver (samsa/raft_driver.h): a RaftQuorum's Ready executed against a Log and the
// quorum-state file, in the order written on Ready.
#include "samsa/raft_driver.h"

#include <fmt/format.h>

#include <algorithm>

#include "samsa/quorum_state_file.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

namespace samsa::raft {

Result<std::vector<std::byte>> LogRaftReader::read(Offset offset, std::uint32_t max_bytes) const {
  std::vector<std::byte> out;
  ReadOptions options;
  options.max_bytes = max_bytes;
  options.min_one_batch = true;
  // A read stays within one segment: go on into the next while there is room.
  for (int segments = 0; segments < 64; ++segments) {
    if (offset >= log_->log_end_offset()) break;
    SAMSA_TRY_ASSIGN(LogSlice slice, log_->read(offset, options));
    if (slice.empty()) break;
    if (!out.empty() && out.size() + slice.size_bytes > max_bytes) break;
    SAMSA_TRY(slice.read_into(out));
    offset = slice.next_offset;
    if (out.size() >= max_bytes) break;
    options.max_bytes = max_bytes - out.size();
    options.min_one_batch = false;
  }
  return out;
}

Result<RaftLog::SnapshotChunk> LogRaftReader::read_snapshot(SnapshotId id, std::uint64_t position,
                                                            std::uint32_t max_bytes) const {
  if (env_ == nullptr) return Status::not_found("no snapshots here");
  SAMSA_TRY_ASSIGN(const auto reader, SnapshotReader::open(*env_, dir_, id));
  SnapshotChunk chunk;
  chunk.size = reader->size_bytes();
  if (position > chunk.size) {
    return Status::out_of_range(fmt::format("snapshot {}: position {} past its {} bytes",
                                            snapshot_file_name(id), position, chunk.size));
  }
  chunk.bytes.resize(
      static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, chunk.size - position)));
  std::size_t done = 0;
  // Bounded by the chunk's size: each pass reads at least one byte or stops.
  while (done < chunk.bytes.size()) {
    SAMSA_TRY_ASSIGN(const std::size_t n,
                     reader->read_at(position + done, MutableByteSpan(chunk.bytes).subspan(done)));
    if (n == 0) break;
    done += n;
  }
  chunk.bytes.resize(done);
  return chunk;
}

Result<RaftLogSummary> scan_raft_log(const Log& log) {
  RaftLogSummary s;
  s.log_start_offset = log.log_start_offset();
  s.log_end_offset = log.log_end_offset();
  LogRaftReader reader(log);
  Offset at = s.log_start_offset;
  constexpr std::uint32_t kChunk = 4 << 20;
  // Bounded by the log's size: every pass moves `at` forward by at least one batch.
  while (at < s.log_end_offset) {
    SAMSA_TRY_ASSIGN(std::vector<std::byte> bytes, reader.read(at, kChunk));
    if (bytes.empty()) break;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      auto view = RecordBatchView::parse(ByteSpan(bytes).subspan(pos));
      if (!view.ok()) {
        return Status::corruption(
            fmt::format("{}: batch at offset {}: {}", log.dir(), at, view.status().message()));
      }
      const LeaderEpoch e = view->partition_leader_epoch();
      if (e < LeaderEpoch(0)) {
        return Status::corruption(
            fmt::format("{}: batch at offset {} has no leader epoch ({}): not a KRaft log",
                        log.dir(), view->base_offset(), e));
      }
      if (!s.epochs.empty() && e < s.epochs.back().epoch) {
        return Status::corruption(fmt::format("{}: batch at offset {} has epoch {} after epoch {}",
                                              log.dir(), view->base_offset(), e,
                                              s.epochs.back().epoch));
      }
      if (s.epochs.empty() || s.epochs.back().epoch != e)
        s.epochs.push_back({e, view->base_offset()});
      at = view->next_offset();
      pos += view->size_bytes();
    }
  }
  return s;
}

namespace {

constexpr std::string_view kPartSuffix = ".checkpoint.part";
constexpr std::size_t kSnapshotsKept = 2;             // the latest and the one before it
constexpr std::size_t kSnapshotBatchBytes = 1 << 20;  // create_snapshot's batches

// The batch holding `offset`, if the log has one.
Result<std::optional<RecordBatchView>> batch_holding(const LogRaftReader& reader, Offset offset,
                                                     std::vector<std::byte>& buffer) {
  SAMSA_TRY_ASSIGN(buffer, reader.read(offset, 1));
  auto view = RecordBatchView::parse(ByteSpan(buffer));
  if (!view.ok() || view->base_offset() > offset || view->next_offset() <= offset) {
    return std::optional<RecordBatchView>();
  }
  return std::optional<RecordBatchView>(*view);
}

// Removes unfinished snapshot files and brings the log to start at the latest snapshot
// (raft_driver.h). Returns the latest snapshot.
Result<std::optional<SnapshotId>> reconcile_snapshots(Env& env, const std::string& dir, Log& log) {
  SAMSA_TRY_ASSIGN(const auto names, env.list_dir(dir));
  for (const auto& name : names) {
    if (name.size() > kPartSuffix.size() && name.ends_with(kPartSuffix)) {
      SAMSA_TRY(env.remove(join_path(dir, name)));
    }
  }
  SAMSA_TRY_ASSIGN(const auto ids, list_snapshots(env, dir));
  if (ids.empty()) {
    if (log.log_start_offset() > Offset(0)) {
      return Status::corruption(
          fmt::format("{}: the log starts at {} but no snapshot holds the records below it", dir,
                      log.log_start_offset()));
    }
    return std::optional<SnapshotId>();
  }
  const SnapshotId latest = ids.back();
  {
    // Never trusted unread: a snapshot the log starts at is checked whole (CRC, framing).
    SAMSA_TRY_ASSIGN(const auto reader, SnapshotReader::open(env, dir, latest));
    SAMSA_TRY(reader->data_batches().status());
  }
  if (log.log_start_offset() > latest.end_offset) {
    return Status::corruption(fmt::format(
        "{}: the log starts at {}, past its latest snapshot {}: the records between are lost", dir,
        log.log_start_offset(), snapshot_file_name(latest)));
  }
  if (log.log_start_offset() == latest.end_offset) return std::optional<SnapshotId>(latest);
  // The log must hold the snapshot's last batch, of the snapshot's epoch, ending at its end;
  // otherwise the snapshot (committed) is ahead of the log or the log diverged from it.
  bool ahead = latest.end_offset > log.log_end_offset();
  if (!ahead) {
    LogRaftReader reader(log);
    std::vector<std::byte> buffer;
    SAMSA_TRY_ASSIGN(const auto batch, batch_holding(reader, latest.end_offset - 1, buffer));
    ahead = !batch || batch->next_offset() != latest.end_offset ||
            batch->partition_leader_epoch() != latest.epoch;
  }
  if (ahead) {
    SAMSA_TRY(log.truncate_fully_and_start_at(latest.end_offset));
  } else {
    SAMSA_TRY(log.delete_records_before(latest.end_offset));
    SAMSA_TRY(log.apply_retention(latest.end_offset).status());
  }
  return std::optional<SnapshotId>(latest);
}

}  // namespace

Result<std::unique_ptr<RaftDriver>> RaftDriver::open(Env& env, const std::string& data_dir,
                                                     RaftConfig config, std::int64_t now,
                                                     LogConfig log_config, Clock& clock) {
  std::unique_ptr<RaftDriver> d(new RaftDriver());
  d->env_ = &env;
  d->dir_ = data_dir + "/" + kLogDirName;
  SAMSA_TRY(env.create_dirs(d->dir_));
  log_config.flush_policy = FlushPolicy::durable;
  // Only snapshots delete the metadata log (below them), never time or size.
  log_config.retention_ms = -1;
  log_config.retention_bytes = -1;
  log_config.max_batch_bytes = static_cast<std::uint32_t>(
      std::max<std::size_t>(log_config.max_batch_bytes, config.batch_max_bytes + 4096));
  SAMSA_TRY_ASSIGN(d->log_, Log::open(env, d->dir_, log_config, clock));
  SAMSA_TRY_ASSIGN(std::optional<QuorumStateData> persisted,
                   read_quorum_state(env, d->dir_ + "/" + kQuorumStateFileName));
  SAMSA_TRY_ASSIGN(const std::optional<SnapshotId> latest,
                   reconcile_snapshots(env, d->dir_, *d->log_));
  SAMSA_TRY_ASSIGN(RaftLogSummary summary, scan_raft_log(*d->log_));
  summary.latest_snapshot = latest;
  d->reader_ = std::make_unique<LogRaftReader>(*d->log_, &env, d->dir_);
  auto quorum =
      RaftQuorum::create(std::move(config), persisted, std::move(summary), d->reader_.get(), now);
  if (!quorum.ok()) {
    return Status(quorum.status().code(),
                  fmt::format("{}: {}", d->dir_, quorum.status().message()));
  }
  d->quorum_ = std::move(*quorum);
  return d;
}

RaftDriver::~RaftDriver() = default;

Status RaftDriver::execute_durable_steps(const Ready& r, std::optional<Status>& fetched) {
  // 1. The election state, durably, before anything that depends on it is said.
  if (r.quorum_state) {
    SAMSA_TRY(write_quorum_state(*env_, dir_ + "/" + kQuorumStateFileName, *r.quorum_state));
  }
  // 2. Truncation (durable when it returns).
  if (r.truncate_to) SAMSA_TRY(log_->truncate_to(*r.truncate_to));
  // 2a. A fetched snapshot (frozen by an earlier Ready) replaces the log.
  if (r.load_snapshot) {
    SAMSA_TRY(log_->truncate_fully_and_start_at(r.load_snapshot->end_offset));
    SAMSA_TRY(delete_old_snapshots());
  }
  // 2b. Our own snapshot is frozen: the log start moves to it, whole segments below go.
  if (r.log_start_offset) {
    SAMSA_TRY(log_->delete_records_before(*r.log_start_offset));
    SAMSA_TRY(log_->apply_retention(*r.log_start_offset).status());
    SAMSA_TRY(delete_old_snapshots());
  }
  // 3. Appends, in one write and one fdatasync (the durable flush policy).
  if (!r.append.empty()) {
    std::size_t total = 0;
    for (const auto& b : r.append) total += b.size();
    std::vector<std::byte> all;
    all.reserve(total);
    for (const auto& b : r.append) all.insert(all.end(), b.begin(), b.end());
    AppendOptions options;
    options.producer_batches = false;
    options.assign_offsets = false;
    SAMSA_TRY(log_->append(MutableByteSpan(all), options).status());
  }
  // 3a. A snapshot chunk; the last one is validated, fsynced and renamed into place.
  if (r.snapshot_chunk) SAMSA_TRY(execute_snapshot_chunk(*r.snapshot_chunk, fetched));
  return {};
}

Result<RaftOutput> RaftDriver::drain(std::int64_t now) {
  RaftOutput out;
  if (!failure_.ok()) return failure_;
  // Bounded: each Ready is what accumulated since the last; advance() adds at most the
  // answers to long polls it completes.
  for (int rounds = 0; rounds < 1'000 && quorum_->has_ready(); ++rounds) {
    Ready r = quorum_->ready();
    std::optional<Status> fetched;
    if (Status s = execute_durable_steps(r, fetched); !s.ok()) {
      failure_ =
          Status(s.code(), fmt::format("raft node {} in {}: {}; the node stopped (reopen it)",
                                       quorum_->status().self, dir_, s.message()));
      return failure_;
    }
    // 4. Only now what goes out.
    for (auto& m : r.messages) out.messages.push_back(std::move(m));
    if (r.high_watermark) out.high_watermark = r.high_watermark;
    if (r.leader_change) out.leader_change = r.leader_change;
    for (auto& read : r.reads) out.reads.push_back(read);
    if (r.load_snapshot) out.load_snapshot = r.load_snapshot;
    quorum_->advance(now);
    if (fetched) quorum_->snapshot_fetched(r.snapshot_chunk->id, *fetched, now);
  }
  return out;
}

Status RaftDriver::execute_snapshot_chunk(const SnapshotChunkWrite& chunk,
                                          std::optional<Status>& fetched) {
  if (chunk.position == 0) {
    receiver_.reset();  // an unfinished other one: its .part goes
    const std::string path = join_path(dir_, snapshot_file_name(chunk.id));
    SAMSA_TRY_ASSIGN(const bool exists, env_->exists(path));
    if (exists) {
      if (latest_snapshot() == chunk.id) {
        return Status::failed_precondition(
            fmt::format("{}: asked to fetch snapshot {}, which the log already starts at", dir_,
                        snapshot_file_name(chunk.id)));
      }
      SAMSA_TRY(env_->remove(path));  // a stale copy nothing refers to
    }
    SAMSA_TRY_ASSIGN(receiver_, SnapshotReceiver::create(*env_, dir_, chunk.id));
  }
  if (!receiver_) {
    return Status::failed_precondition(fmt::format("{}: snapshot {} chunk at {} without its start",
                                                   dir_, snapshot_file_name(chunk.id),
                                                   chunk.position));
  }
  SAMSA_TRY(receiver_->write_chunk(chunk.position, chunk.bytes));
  if (!chunk.last) return {};
  Status finished = receiver_->finish();
  receiver_.reset();
  // A snapshot that does not validate came corrupt from the leader: fetched again. Any
  // other failure is the disk's and stops the driver.
  if (!finished.ok() && finished.code() != StatusCode::corruption) return finished;
  fetched = finished;
  return {};
}

Status RaftDriver::delete_old_snapshots() {
  SAMSA_TRY_ASSIGN(const auto ids, list_snapshots(*env_, dir_));
  for (std::size_t i = 0; i + kSnapshotsKept < ids.size(); ++i) {
    SAMSA_TRY(env_->remove(join_path(dir_, snapshot_file_name(ids[i]))));
  }
  return {};
}

Result<SnapshotId> RaftDriver::create_snapshot(Offset end_offset,
                                               std::span<const std::vector<std::byte>> values,
                                               std::int64_t now) {
  if (!failure_.ok()) return failure_;
  SAMSA_TRY_ASSIGN(const SnapshotId id, quorum_->snapshot_id_at(end_offset));
  SAMSA_TRY_ASSIGN(auto writer, SnapshotWriter::create(*env_, dir_, id, Timestamp(now)));
  RecordBatchBuilder builder;
  auto flush = [&]() -> Status {
    if (builder.record_count() == 0) return {};
    SAMSA_TRY_ASSIGN(const MutableByteSpan batch, builder.build());
    SAMSA_TRY(writer->append(batch));
    builder.reset({});
    return {};
  };
  for (const auto& v : values) {
    if (builder.record_count() > 0 &&
        builder.uncompressed_size() + v.size() > kSnapshotBatchBytes) {
      SAMSA_TRY(flush());
    }
    SAMSA_TRY(builder.append(Timestamp(now), std::nullopt, ByteSpan(v)));
  }
  SAMSA_TRY(flush());
  SAMSA_TRY(writer->freeze());
  SAMSA_TRY(quorum_->snapshot_created(id, now));
  return id;
}

Result<std::vector<std::vector<std::byte>>> RaftDriver::snapshot_values(SnapshotId id) const {
  SAMSA_TRY_ASSIGN(const auto reader, SnapshotReader::open(*env_, dir_, id));
  SAMSA_TRY_ASSIGN(const auto batches, reader->data_batches());
  return snapshot_record_values(batches);
}

Result<RaftOutput> RaftDriver::step(const Message& message, std::int64_t now) {
  if (!failure_.ok()) return failure_;
  quorum_->step(message, now);
  return drain(now);
}

Result<RaftOutput> RaftDriver::tick(std::int64_t now) {
  if (!failure_.ok()) return failure_;
  quorum_->tick(now);
  return drain(now);
}

Result<std::vector<std::byte>> RaftDriver::read_committed(Offset offset,
                                                          std::uint32_t max_bytes) const {
  const Offset hw = quorum_->status().high_watermark;
  if (hw == Offset::none() || offset >= hw) return std::vector<std::byte>{};
  SAMSA_TRY_ASSIGN(std::vector<std::byte> bytes, reader_->read(offset, max_bytes));
  std::size_t keep = 0;
  while (keep < bytes.size()) {
    auto view = RecordBatchView::parse(ByteSpan(bytes).subspan(keep));
    if (!view.ok() || view->next_offset() > hw) break;
    keep += view->size_bytes();
  }
  bytes.resize(keep);
  return bytes;
}

}  // namespace samsa::raft
