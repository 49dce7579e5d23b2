// Partition: a Log plus the high watermark, the leader epoch cache and producer state.
// Recovery of that state is in partition_recovery.cc.
#include "samsa/partition.h"

#include <fmt/format.h>

#include <algorithm>

#include "checkpoint.h"
#include "invariant.h"
#include "partition_impl.h"

namespace samsa {

// ------------------------------------------------------------------------ the append hook

// Checks and records producer state and leader epochs under the log's write lock, so they
// change in offset order together with the log.
class PartitionAppendHook final : public AppendHook {
 public:
  PartitionAppendHook(Partition::Impl& impl, ProducerAppendOrigin origin)
      : impl_(impl), origin_(origin) {}

  Status before_write(std::span<const RecordBatchView> batches) override {
    std::lock_guard lock(impl_.state_mu);
    auto update = impl_.producers.begin_update();
    for (const RecordBatchView& batch : batches) {
      SAMSA_TRY_ASSIGN(auto original, update.add(batch, origin_));
      if (original) {
        duplicate_ = *original;
        return Status::already_exists(fmt::format(
            "batch of producer {} epoch {} sequences [{}, {}] is a retry of offsets [{}, {}]",
            batch.producer_id().value(), batch.producer_epoch().value(),
            original->first_sequence.value(), original->last_sequence.value(),
            original->first_offset.value(), original->last_offset.value()));
      }
    }
    // Kafka assigns the epoch before writing: if the write then fails, the entry names an
    // epoch starting at the log end, which the next append of that epoch starts at anyway.
    for (const RecordBatchView& batch : batches) {
      if (batch.partition_leader_epoch() == LeaderEpoch::none()) continue;
      SAMSA_TRY(impl_.epochs.assign(batch.partition_leader_epoch(), batch.base_offset()));
    }
    update_.emplace(std::move(update));
    return Status();
  }

  void after_write(std::span<const RecordBatchView>, Offset next_offset) override {
    std::lock_guard lock(impl_.state_mu);
    impl_.producers.commit(std::move(*update_), next_offset);
    update_.reset();
  }

  const std::optional<ProducerBatchMetadata>& duplicate() const { return duplicate_; }

 private:
  Partition::Impl& impl_;
  ProducerAppendOrigin origin_;
  std::optional<ProducerStateManager::Update> update_;
  std::optional<ProducerBatchMetadata> duplicate_;
};

// ------------------------------------------------------------------------ Impl helpers

Status Partition::Impl::check_open() const {
  if (closed.load()) return Status::failed_precondition(fmt::format("partition {} is closed", dir));
  return Status();
}

void Partition::Impl::store_high_watermark(Offset hw) {
  high_watermark.store(hw, std::memory_order_release);
  const Offset start = log->log_start_offset();
  const Offset end = log->log_end_offset();
  SAMSA_ASSERT(start <= hw, "partition {}: log start {} <= high watermark {}", dir, start, hw);
  SAMSA_ASSERT(hw <= end, "partition {}: high watermark {} <= log end {}", dir, hw, end);
}

void Partition::Impl::advance_high_watermark(Offset end) {
  {
    std::lock_guard lock(hw_mu);
    if (end <= high_watermark.load()) return;
    store_high_watermark(end);
  }
  hw_cv.notify_all();
}

void Partition::Impl::lower_high_watermark(Offset end) {
  std::lock_guard lock(hw_mu);
  if (end < high_watermark.load()) store_high_watermark(end);
}

Status Partition::Impl::write_high_watermark_checkpoint() {
  std::lock_guard lock(checkpoint_mu);
  const Offset hw = high_watermark.load();
  if (hw == hw_checkpointed) return Status();
  const LogConfig& c = log->config();
  SAMSA_TRY(internal::write_offset_checkpoint(env, join_path(dir, Partition::kHighWatermarkFile),
                                              {{c.topic, c.partition, hw.value()}}));
  hw_checkpointed = hw;
  return Status();
}

void Partition::Impl::on_roll(Offset new_base) {
  std::lock_guard lock(state_mu);
  // Batches below new_base are all committed to the producer state (the hook commits
  // before the next append can roll), so the snapshot describes exactly [.., new_base).
  SAMSA_ASSERT(producers.map_end_offset() == new_base, "producer state at {} when {} rolled at {}",
               producers.map_end_offset().value(), dir, new_base.value());
  if (Status s = producers.take_snapshot(); !s.ok() && state_error.ok()) state_error = s;
}

// ------------------------------------------------------------------------ Partition

Partition::Partition(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Partition::~Partition() {
  if (impl_) (void)close();
}

Result<PartitionAppendResult> Partition::Impl::append(AppendInput input, AppendOptions options,
                                                      ProducerAppendOrigin origin) {
  std::shared_lock admin(admin_mu);
  SAMSA_TRY(check_open());
  PartitionAppendHook hook(*this, origin);
  options.hook = &hook;
  // A builder takes the Log's in-process path (no second validation of what samsa encoded).
  auto appended = std::holds_alternative<RecordBatchBuilder*>(input)
                      ? log->append(*std::get<RecordBatchBuilder*>(input), options)
                      : log->append(std::get<MutableByteSpan>(input), options);
  PartitionAppendResult result;
  if (!appended.ok()) {
    if (!hook.duplicate()) return appended.status();
    // A retry: answer with the original offsets once they are durable, as the original
    // append would have.
    const ProducerBatchMetadata& original = *hook.duplicate();
    SAMSA_TRY(log->sync_to(original.last_offset + 1));
    result.duplicate = true;
    result.info.first_offset = original.first_offset;
    result.info.last_offset = original.last_offset;
    if (!config.replicated) advance_high_watermark(original.last_offset + 1);
  } else {
    result.info = *appended;
    if (!config.replicated) advance_high_watermark(appended->last_offset + 1);
  }
  result.log_start_offset = log->log_start_offset();
  result.high_watermark = high_watermark.load();
  return result;
}

LeaderEpoch Partition::Impl::leader_epoch_or_latest(LeaderEpoch epoch) const {
  if (epoch != LeaderEpoch::none()) return epoch;
  std::lock_guard lock(state_mu);
  // Kafka's leader always stamps its epoch; a partition never given one leads in epoch 0
  // (a new partition's first), so no batch keeps an epoch its producer made up.
  return epochs.latest_epoch().value_or(LeaderEpoch(0));
}

Result<PartitionAppendResult> Partition::append(MutableByteSpan batches, LeaderEpoch leader_epoch) {
  AppendOptions options{.leader_epoch = impl_->leader_epoch_or_latest(leader_epoch),
                        .producer_batches = true};
  return impl_->append(batches, options, ProducerAppendOrigin::client);
}

Result<PartitionAppendResult> Partition::append(RecordBatchBuilder& builder,
                                                LeaderEpoch leader_epoch) {
  AppendOptions options{.leader_epoch = impl_->leader_epoch_or_latest(leader_epoch)};
  return impl_->append(&builder, options, ProducerAppendOrigin::client);
}

Result<PartitionAppendResult> Partition::append_as_follower(MutableByteSpan batches) {
  AppendOptions options{.producer_batches = false, .assign_offsets = false};
  return impl_->append(batches, options, ProducerAppendOrigin::replication);
}

Result<PartitionReadResult> Partition::read(Offset offset,
                                            const PartitionReadOptions& options) const {
  const Impl& m = *impl_;
  PartitionReadResult result;
  // The offsets are taken before the read, so the data returned never passes them.
  result.high_watermark = m.high_watermark.load(std::memory_order_acquire);
  result.last_stable_offset = result.high_watermark;
  result.log_start_offset = m.log->log_start_offset();
  result.log_end_offset = m.log->log_end_offset();
  ReadOptions read{.max_bytes = options.max_bytes, .min_one_batch = options.min_one_batch};
  if (options.isolation == Isolation::committed) read.max_offset = result.high_watermark;
  SAMSA_TRY_ASSIGN(result.slice, m.log->read(offset, read));
  return result;
}

bool Partition::wait_for_data(Offset offset, Isolation isolation,
                              std::chrono::milliseconds timeout) const {
  const Impl& m = *impl_;
  if (isolation == Isolation::log_end) return m.log->wait_for_data(offset, timeout);
  std::unique_lock lock(m.hw_mu);
  return m.hw_cv.wait_for(lock, timeout, [&] {
    return m.high_watermark.load() > offset || m.closed.load();
  }) && m.high_watermark.load() > offset;
}

Result<std::optional<TimestampOffset>> Partition::offset_for_timestamp(Timestamp ts,
                                                                       Isolation isolation) const {
  const Offset bound = isolation == Isolation::committed ? last_stable_offset() : log_end_offset();
  if (ts == kLatestTimestamp) return std::optional(TimestampOffset{Timestamp::none(), bound});
  SAMSA_TRY_ASSIGN(auto found, impl_->log->offset_for_timestamp(ts));
  if (ts != kEarliestTimestamp && found && found->offset >= bound) return std::nullopt;
  return found;
}

EpochEndOffset Partition::end_offset_for_epoch(LeaderEpoch epoch) const {
  std::lock_guard lock(impl_->state_mu);
  return impl_->epochs.end_offset_for(epoch, impl_->log->log_end_offset());
}

std::optional<LeaderEpoch> Partition::latest_epoch() const {
  std::lock_guard lock(impl_->state_mu);
  return impl_->epochs.latest_epoch();
}

std::vector<EpochEntry> Partition::epoch_entries() const {
  std::lock_guard lock(impl_->state_mu);
  return impl_->epochs.entries();
}

std::optional<ProducerStateEntry> Partition::producer(ProducerId id) const {
  std::lock_guard lock(impl_->state_mu);
  return impl_->producers.entry(id);
}

Status Partition::update_high_watermark(Offset offset) {
  Impl& m = *impl_;
  if (!m.config.replicated) {
    return Status::invalid_argument(fmt::format(
        "partition {} is not replicated: its high watermark follows its log end", m.dir));
  }
  // Shared with appends, exclusive of truncate_to: the log end read here stays until the
  // high watermark is stored (else a truncation between the two left it past the log end).
  std::shared_lock admin(m.admin_mu);
  m.advance_high_watermark(std::min(offset, m.log->log_end_offset()));
  return Status();
}

Status Partition::truncate_to(Offset offset) {
  Impl& m = *impl_;
  std::unique_lock admin(m.admin_mu);
  SAMSA_TRY(m.check_open());
  // The high watermark follows the log end down even when the truncation stopped midway
  // (the log end moved before the failure).
  const Status cut = m.log->truncate_to(offset);
  const Offset end = m.log->log_end_offset();
  m.lower_high_watermark(end);
  SAMSA_TRY(cut);
  std::lock_guard lock(m.state_mu);
  SAMSA_TRY(m.epochs.truncate_from_end(end));
  SAMSA_TRY(m.epochs.truncate_from_start(m.log->log_start_offset()));
  return m.rebuild_producer_state();
}

Status Partition::delete_records_before(Offset offset) {
  Impl& m = *impl_;
  std::unique_lock admin(m.admin_mu);
  SAMSA_TRY(m.check_open());
  const Offset hw = high_watermark();
  if (offset > hw) {
    return Status::out_of_range(
        fmt::format("delete records before {} in partition {}: past the high watermark {}",
                    offset.value(), m.dir, hw.value()));
  }
  SAMSA_TRY(m.log->delete_records_before(offset));
  std::lock_guard lock(m.state_mu);
  return m.epochs.truncate_from_start(m.log->log_start_offset());
}

Result<PartitionMaintenanceReport> Partition::maintain() {
  Impl& m = *impl_;
  std::shared_lock admin(m.admin_mu);
  SAMSA_TRY(m.check_open());
  PartitionMaintenanceReport report;
  SAMSA_TRY_ASSIGN(report.retention, m.log->apply_retention(high_watermark()));
  const std::vector<SegmentInfo> segments = m.log->segments();
  {
    std::lock_guard lock(m.state_mu);
    if (!m.state_error.ok()) {
      Status s = std::exchange(m.state_error, Status());
      return s.with_context(fmt::format("partition {} producer snapshot at roll", m.dir));
    }
    SAMSA_TRY(m.epochs.truncate_from_start(m.log->log_start_offset()));
    report.producers_expired = m.producers.remove_expired(m.clock.now());
    SAMSA_TRY_ASSIGN(const auto before, m.producers.list_snapshots());
    SAMSA_TRY(m.producers.delete_snapshots_before(segments.front().base_offset));
    SAMSA_TRY_ASSIGN(const auto after, m.producers.list_snapshots());
    report.snapshots_deleted = static_cast<std::int64_t>(before.size() - after.size());
  }
  const std::optional<Offset> checkpointed = m.hw_checkpointed;
  SAMSA_TRY(m.write_high_watermark_checkpoint());
  report.high_watermark_checkpointed = checkpointed != m.hw_checkpointed;
  return report;
}

Status Partition::flush() {
  Impl& m = *impl_;
  std::shared_lock admin(m.admin_mu);
  SAMSA_TRY(m.check_open());
  SAMSA_TRY(m.log->flush());
  return m.write_high_watermark_checkpoint();
}

Status Partition::close() {
  Impl& m = *impl_;
  std::unique_lock admin(m.admin_mu);
  if (m.closed) return Status();
  Status result = m.log->flush();
  if (result.ok()) result = m.write_high_watermark_checkpoint();
  if (result.ok()) {
    // A snapshot at the log end lets the next open skip replaying the log.
    std::lock_guard lock(m.state_mu);
    result = m.producers.take_snapshot();
  }
  const Status closed = m.log->close();
  if (result.ok()) result = closed;
  {
    std::lock_guard lock(m.hw_mu);  // a committed reader checks `closed` under it, then sleeps
    m.closed = true;
  }
  m.hw_cv.notify_all();
  return result;
}

Offset Partition::log_start_offset() const {
  return impl_->log->log_start_offset();
}
Offset Partition::log_end_offset() const {
  return impl_->log->log_end_offset();
}
Offset Partition::high_watermark() const {
  return impl_->high_watermark.load(std::memory_order_acquire);
}
Offset Partition::last_stable_offset() const {
  return high_watermark();
}
Log& Partition::log() {
  return *impl_->log;
}
const Log& Partition::log() const {
  return *impl_->log;
}
const std::string& Partition::dir() const {
  return impl_->dir;
}

}  // namespace samsa
