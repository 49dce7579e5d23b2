// Internal: the state of a Partition, shared by partition.cc (appends, reads, maintenance)
// and partition_recovery.cc (open, and the rebuild after truncation).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <variant>

#include "samsa/partition.h"
#include "strong_types.h"

namespace samsa {

struct Partition::Impl {
  Impl(Env& e, Clock& c, std::string d, PartitionConfig cfg, LeaderEpochCache cache)
      : env(e),
        clock(c),
        dir(std::move(d)),
        config(std::move(cfg)),
        epochs(std::move(cache)),
        producers(e, dir, {.producer_id_expiration_ms = config.producer_id_expiration_ms}) {}

  Env& env;
  Clock& clock;
  const std::string dir;
  const PartitionConfig config;
  std::unique_ptr<Log> log;

  // Appends take it shared (they serialize inside the Log, sharing its group commit);
  // truncation, deletion of records and close take it exclusive.
  std::shared_mutex admin_mu;
  // Set under admin_mu held exclusive; read under admin_mu, or without it by committed
  // readers waiting on hw_cv.
  std::atomic<bool> closed{false};
  Status check_open() const;  // admin_mu held: "partition <dir> is closed" once closed

  // Lock order: the Log's write lock, then state_mu.
  mutable std::mutex state_mu;
  LeaderEpochCache epochs;         // guarded by state_mu
  ProducerStateManager producers;  // guarded by state_mu
  Status state_error;              // a snapshot at roll that failed; guarded by state_mu

  // Invariant: log_start <= high_watermark <= log_end, except transiently between a log
  // truncation and lower_high_watermark() (readers clamp to the log's own bounds). Checked
  // at every store (store_high_watermark), which runs under hw_mu and admin_mu (shared or
  // exclusive), so no truncation moves the log end meanwhile.
  internal::AtomicOffset high_watermark;
  mutable std::mutex hw_mu;
  mutable std::condition_variable hw_cv;
  std::mutex checkpoint_mu;
  std::optional<Offset> hw_checkpointed;  // none yet; guarded by checkpoint_mu

  using AppendInput = std::variant<MutableByteSpan, RecordBatchBuilder*>;
  Result<PartitionAppendResult> append(AppendInput input, AppendOptions options,
                                       ProducerAppendOrigin origin);
  LeaderEpoch leader_epoch_or_latest(LeaderEpoch epoch) const;
  void advance_high_watermark(Offset end);
  void lower_high_watermark(Offset end);
  void store_high_watermark(Offset hw);  // hw_mu held
  Status write_high_watermark_checkpoint();
  void on_roll(Offset new_base);

  // partition_recovery.cc
  Status recover(Offset epochs_from);
  Result<std::optional<Offset>> load_producer_snapshot(Offset max_offset);  // state_mu held
  // Replays batches [from, log end) into producer state and, from `epochs_from`, the epoch
  // cache. state_mu held.
  Status replay_log(Offset from, Offset epochs_from);
  Status rebuild_producer_state();  // after truncation; state_mu held
};

}  // namespace samsa
