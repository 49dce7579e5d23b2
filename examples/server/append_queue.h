// The appends of one partition, run one drain at a time in arrival order.
//
// Produce requests are decoded on the I/O thread, which pushes their batches here in the
// order they arrived; a drain on the append pool appends them. Kafka serves one request per
// connection at a time, which keeps a producer's pipelined batches in order; here requests of
// a connection run concurrently, so order per partition comes from this queue instead.
//
// Group commit: while a drain waits for fdatasync, later batches queue up; the next drain
// appends every queued plain (non-idempotent) batch in one Partition::append, so one write
// and one fdatasync cover many requests. Idempotent batches are appended one by one (the
// producer state checks and dedup answer per batch).
//
// Thread-safety: push() is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "samsa/partition.h"
#include "work_pool.h"

namespace samsa_server {

struct AppendOutcome {
  samsa::Status status;
  bool duplicate = false;
  std::int64_t base_offset = -1;
  std::int64_t log_append_time_ms = -1;
  std::int64_t log_start_offset = -1;
};

struct AppendJob {
  samsa::MutableByteSpan batch;       // exactly one batch (framing checked by the caller)
  bool idempotent = false;            // has a producer id
  std::shared_ptr<const void> owner;  // keeps the bytes of `batch` alive
  std::function<void(const AppendOutcome&)> done;  // called once, on the append pool
};

class AppendQueue {
 public:
  // Bytes of plain batches put into one append (a bound on the copy a drain makes).
  static constexpr std::size_t kMaxCoalescedBytes = 16 << 20;

  // `appended` runs after every append attempt (fetch waiters are woken there).
  AppendQueue(samsa::Partition& partition, WorkPool& pool, std::function<void()> appended);

  void push(AppendJob job);

  // The epoch appends are stamped with from now on: at first the partition's latest (0 for
  // one never led before); a leader change sets the new leader's.
  samsa::LeaderEpoch leader_epoch() const {
    return samsa::LeaderEpoch(leader_epoch_.load(std::memory_order_acquire));
  }
  void set_leader_epoch(samsa::LeaderEpoch epoch) {
    leader_epoch_.store(epoch.value(), std::memory_order_release);
  }

 private:
  void drain();
  std::vector<AppendJob> take_some();
  void append_one(AppendJob& job);
  void append_plain(std::vector<AppendJob*>& run);

  samsa::Partition& partition_;
  std::atomic<samsa::LeaderEpoch::rep> leader_epoch_;
  WorkPool& pool_;
  std::function<void()> appended_;
  std::mutex mu_;
  std::deque<AppendJob> queue_;
  bool draining_ = false;
};

}  // namespace samsa_server
