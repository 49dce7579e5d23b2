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

Result<std::unique_ptr<RaftDriver>> RaftDriver::open(Env& env, const std::string& data_dir,
                                                     RaftConfig config, std::int64_t now,
                                                     LogConfig log_config, Clock& clock) {
  std::unique_ptr<RaftDriver> d(new RaftDriver());
  d->env_ = &env;
  d->dir_ = data_dir + "/" + kLogDirName;
  SAMSA_TRY(env.create_dirs(d->dir_));
  log_config.flush_policy = FlushPolicy::durable;
  log_config.max_batch_bytes = static_cast<std::uint32_t>(
      std::max<std::size_t>(log_config.max_batch_bytes, config.batch_max_bytes + 4096));
  SAMSA_TRY_ASSIGN(d->log_, Log::open(env, d->dir_, log_config, clock));
  SAMSA_TRY_ASSIGN(std::optional<QuorumStateData> persisted,
                   read_quorum_state(env, d->dir_ + "/" + kQuorumStateFileName));
  SAMSA_TRY_ASSIGN(RaftLogSummary summary, scan_raft_log(*d->log_));
  d->reader_ = std::make_unique<LogRaftReader>(*d->log_);
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

Result<RaftOutput> RaftDriver::drain(std::int64_t now) {
  RaftOutput out;
  if (!failure_.ok()) return failure_;
  // Bounded: each Ready is what accumulated since the last; advance() adds at most the
  // answers to long polls it completes.
  for (int rounds = 0; rounds < 1'000 && quorum_->has_ready(); ++rounds) {
    Ready r = quorum_->ready();
    Status s;
    // 1. The election state, durably, before anything that depends on it is said.
    if (r.quorum_state) {
      s = write_quorum_state(*env_, dir_ + "/" + kQuorumStateFileName, *r.quorum_state);
    }
    // 2. Truncation (durable when it returns).
    if (s.ok() && r.truncate_to) s = log_->truncate_to(*r.truncate_to);
    // 3. Appends, in one write and one fdatasync (the durable flush policy).
    if (s.ok() && !r.append.empty()) {
      std::size_t total = 0;
      for (const auto& b : r.append) total += b.size();
      std::vector<std::byte> all;
      all.reserve(total);
      for (const auto& b : r.append) all.insert(all.end(), b.begin(), b.end());
      AppendOptions options;
      options.producer_batches = false;
      options.assign_offsets = false;
      auto appended = log_->append(MutableByteSpan(all), options);
      if (!appended.ok()) s = appended.status();
    }
    if (!s.ok()) {
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
    quorum_->advance(now);
  }
  return out;
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
