#include "fetch_waiters.h"

#include "broker.h"

namespace samsa_server {

FetchWaiters::FetchWaiters(WorkPool& pool) : pool_(pool), timer_([this] { timer_loop(); }) {}

FetchWaiters::~FetchWaiters() {
  stop();
}

void FetchWaiters::wait(std::vector<Watch> watches, Clock::time_point deadline, Retry retry) {
  std::unique_lock lock(mu_);
  if (stopping_) return;
  for (const Watch& w : watches) {
    if (w.partition->appends_done.load(std::memory_order_acquire) != w.appends_seen) {
      // An append landed after the fetch read: run it again now.
      lock.unlock();
      pool_.post([retry = std::move(retry)] { retry(false); });
      return;
    }
  }
  const std::uint64_t id = next_id_++;
  for (const Watch& w : watches) by_partition_.emplace(w.partition, id);
  by_deadline_.emplace(deadline, id);
  const bool earliest = by_deadline_.begin()->second == id;
  waiters_.emplace(id, Waiter{std::move(watches), deadline, std::move(retry)});
  lock.unlock();
  if (earliest) cv_.notify_one();
}

FetchWaiters::Retry FetchWaiters::take(std::uint64_t id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return nullptr;
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  by_deadline_.erase({w.deadline, id});
  for (const Watch& watch : w.watches) {
    auto [lo, hi] = by_partition_.equal_range(watch.partition);
    for (auto p = lo; p != hi; ++p) {
      if (p->second == id) {
        by_partition_.erase(p);
        break;
      }
    }
  }
  return std::move(w.retry);
}

void FetchWaiters::notify(PartitionHandle* p) {
  std::vector<Retry> ready;
  {
    std::lock_guard lock(mu_);
    while (true) {
      auto it = by_partition_.find(p);
      if (it == by_partition_.end()) break;
      if (Retry r = take(it->second)) ready.push_back(std::move(r));
    }
  }
  for (Retry& r : ready) pool_.post([r = std::move(r)] { r(false); });
}

void FetchWaiters::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (by_deadline_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto [deadline, id] = *by_deadline_.begin();
    if (Clock::now() < deadline) {
      cv_.wait_until(lock, deadline);
      continue;
    }
    Retry r = take(id);
    lock.unlock();
    if (r) pool_.post([r = std::move(r)] { r(true); });
    lock.lock();
  }
}

void FetchWaiters::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    waiters_.clear();
    by_partition_.clear();
    by_deadline_.clear();
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

std::size_t FetchWaiters::size() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace samsa_server
