// Long-poll fetches waiting for data: one timer thread for all of them, no thread per
// request. A waiting fetch names the partitions it reads and how many appends each had seen
// when it read; the first append to one of them after that, or its deadline, re-runs it on
// the request pool.
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "work_pool.h"

namespace samsa_server {

struct PartitionHandle;

class FetchWaiters {
 public:
  using Clock = std::chrono::steady_clock;
  // Called once: timed_out says whether the deadline passed.
  using Retry = std::function<void(bool timed_out)>;
  struct Watch {
    PartitionHandle* partition;
    std::uint64_t appends_seen;
  };

  explicit FetchWaiters(WorkPool& pool);
  ~FetchWaiters();  // stop()

  void wait(std::vector<Watch> watches, Clock::time_point deadline, Retry retry);
  // An append attempt on `p` finished (after p->appends_done was bumped).
  void notify(PartitionHandle* p);
  // Drops every waiter without running it and joins the timer thread. Idempotent.
  void stop();
  std::size_t size() const;

 private:
  struct Waiter {
    std::vector<Watch> watches;
    Clock::time_point deadline;
    Retry retry;
  };
  void timer_loop();
  // Removes waiter `id` (lock held) and returns its retry.
  Retry take(std::uint64_t id);

  WorkPool& pool_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, Waiter> waiters_;
  std::unordered_multimap<PartitionHandle*, std::uint64_t> by_partition_;
  std::set<std::pair<Clock::time_point, std::uint64_t>> by_deadline_;
  std::thread timer_;
};

}  // namespace samsa_server
