// Partition::open: the Log recovers first, then the state beside it is made to agree with
// the log: the high watermark clamped to it, the leader epoch cache truncated to it and
// rebuilt from the batches the Log rescanned, producer state loaded from the newest
// snapshot and the batches after it replayed.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "checkpoint.h"
#include "partition_impl.h"

namespace samsa {

Result<std::unique_ptr<Partition>> Partition::open(Env& env, const std::string& dir,
                                                   PartitionConfig config, Clock& clock,
                                                   LogOpenOptions options) {
  SAMSA_TRY_ASSIGN(std::unique_ptr<Log> log, Log::open(env, dir, config.log, clock, options));
  SAMSA_TRY_ASSIGN(const bool had_epochs, env.exists(join_path(dir, LeaderEpochCache::kFileName)));
  SAMSA_TRY_ASSIGN(LeaderEpochCache cache, LeaderEpochCache::open(env, dir));
  auto impl = std::make_unique<Impl>(env, clock, dir, std::move(config), std::move(cache));
  impl->log = std::move(log);
  // Without a checkpoint the cache knows nothing: every batch's epoch is learned again.
  const Offset epochs_from =
      had_epochs ? impl->log->recovery_report().rescanned_from : impl->log->log_start_offset();
  SAMSA_TRY(impl->recover(epochs_from));
  Impl* raw = impl.get();
  impl->log->set_roll_listener([raw](Offset new_base) { raw->on_roll(new_base); });
  return std::unique_ptr<Partition>(new Partition(std::move(impl)));
}

Status Partition::Impl::recover(Offset epochs_from) {
  const Offset start = log->log_start_offset();
  const Offset end = log->log_end_offset();
  {
    std::lock_guard lock(state_mu);
    SAMSA_TRY(epochs.truncate_from_end(end));
    SAMSA_TRY(epochs.truncate_from_start(start));
    SAMSA_TRY_ASSIGN(const std::optional<Offset> snapshot, load_producer_snapshot(end));
    const Offset producers_from = snapshot ? std::max(*snapshot, start) : start;
    if (!snapshot) producers.clear(start);
    SAMSA_TRY(replay_log(producers_from, std::max(epochs_from, start)));
    // Kafka drops producers that expired while the partition was closed.
    producers.remove_expired(clock.now());
  }
  // The high watermark: an unreplicated partition is its own in-sync replica set, so what
  // survived in its log is committed (Kafka's leader with ISR {itself} does the same).
  std::int64_t hw = start.value();
  auto entries =
      internal::read_offset_checkpoint(env, join_path(dir, Partition::kHighWatermarkFile));
  if (entries.ok()) {
    const LogConfig& c = log->config();
    for (const auto& e : *entries) {
      if (e.topic == c.topic && e.partition == c.partition) hw = e.offset;
    }
  } else if (!entries.status().is_not_found()) {
    return entries.status();
  }
  if (!config.replicated) hw = end.value();
  hw = std::clamp(hw, start.value(), end.value());
  std::lock_guard lock(hw_mu);
  store_high_watermark(Offset(hw));
  return Status();
}

Result<std::optional<Offset>> Partition::Impl::load_producer_snapshot(Offset max_offset) {
  // A corrupt snapshot is deleted and the next older one tried: replaying more of the log
  // rebuilds what it held.
  SAMSA_TRY_ASSIGN(const std::vector<Offset> offsets, producers.list_snapshots());
  for (std::size_t attempt = 0; attempt <= offsets.size(); ++attempt) {
    auto loaded = producers.load_latest_snapshot(max_offset);
    if (loaded.ok() || !loaded.status().is_corruption()) return loaded;
    SAMSA_TRY_ASSIGN(const std::vector<Offset> left, producers.list_snapshots());
    auto newest =
        std::find_if(left.rbegin(), left.rend(), [&](Offset o) { return o <= max_offset; });
    if (newest == left.rend()) return loaded.status();
    SAMSA_TRY(producers.delete_snapshot(*newest));
  }
  return Status::corruption(fmt::format("producer snapshots in {}: none could be loaded", dir));
}

Status Partition::Impl::replay_log(Offset producers_from, Offset epochs_from) {
  const Offset end = log->log_end_offset();
  Offset at = std::max(std::min(producers_from, epochs_from), log->log_start_offset());
  std::vector<std::byte> buffer;
  // Bounded: each round moves `at` past at least one batch.
  while (at < end) {
    SAMSA_TRY_ASSIGN(
        LogSlice slice,
        log->read(at, {.max_bytes = 8 << 20, .max_offset = end, .min_one_batch = true}));
    if (slice.empty()) break;
    buffer.clear();
    SAMSA_TRY(slice.read_into(buffer));
    for (std::size_t pos = 0; pos < buffer.size();) {
      SAMSA_TRY_ASSIGN(RecordBatchView batch,
                       RecordBatchView::parse(ByteSpan(buffer).subspan(pos)));
      if (batch.next_offset() > producers_from) producers.replay(batch);
      const LeaderEpoch epoch = batch.partition_leader_epoch();
      if (batch.next_offset() > epochs_from && epoch != LeaderEpoch::none()) {
        SAMSA_TRY(epochs.assign(epoch, std::max(batch.base_offset(), log->log_start_offset())));
      }
      pos += batch.size_bytes();
    }
    at = slice.next_offset;
  }
  producers.set_map_end_offset(end);
  return Status();
}

Status Partition::Impl::rebuild_producer_state() {
  const Offset start = log->log_start_offset();
  const Offset end = log->log_end_offset();
  if (start == end) {
    // An empty log has no producers (Kafka's truncateFullyAndStartAt).
    producers.clear(end);
    return producers.delete_snapshots_before(Offset(std::numeric_limits<std::int64_t>::max()));
  }
  SAMSA_TRY_ASSIGN(const std::optional<Offset> snapshot, load_producer_snapshot(end));
  if (!snapshot) producers.clear(start);
  const Offset from = snapshot ? std::max(*snapshot, start) : start;
  return replay_log(from, Offset(std::numeric_limits<std::int64_t>::max()));
}

}  // namespace samsa
