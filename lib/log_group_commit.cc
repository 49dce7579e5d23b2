// Log group commit: how appenders under the durable policy (and Log::sync_to, Log::flush)
// wait for an fdatasync, how one of them leads, writes for the others and syncs, and how a
// truncation or a failure ends the wait. The rest of Log is in log.cc.
#include <fmt/format.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <limits>

#include "log_impl.h"

namespace samsa {

namespace {

// Plain futexes: std::atomic::wait spins and calls sched_yield first, which with more
// appenders than cores handed the CPU around for nothing.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
            nullptr, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX,
            nullptr, nullptr, 0);
}

}  // namespace

// Group commit. One thread at a time (the leader) syncs the active segment for everyone
// waiting; an append is acknowledged only by a sync that started after its write. Under the
// durable policy the leader also writes the group's appends (flat combining: one thread
// takes write_mu once for all of them, where sixteen appenders each taking it in turn spent
// a tenth of their CPU in futex handoffs). The leader then completes each waiter it covered
// (release_waiter) and wakes them all with one futex call (wake), and hands the lead to one
// that arrived meanwhile.
//
// A leader that synced as soon as it was elected would cover only those who wrote during
// the previous sync: the appenders that sync released are still encoding their next batch,
// and catch the sync after. Concurrent appenders then split into two cohorts that take
// turns, and every fdatasync carries half of them (measured: 8.3 batches per sync with 16
// appenders). So the leader first waits, briefly, for its group (gather_group).
Status Log::Impl::sync_to(Offset target, std::uint64_t generation) {
  return commit(nullptr, target, generation);
}

Status Log::Impl::commit(WriteRequest* write, Offset target, std::uint64_t generation) {
  std::unique_lock lock(sync_mu);
  if (failed.load()) return failure;
  if (write == nullptr) {
    // A truncation since `target` was read may have cut below it (and appends since may
    // have reached it again with other records): those offsets cannot become durable.
    if (generation != truncations.load() && lowest_end_since(generation) < target.value()) {
      return truncated_before_durable(Offset(lowest_end_since(generation)), target);
    }
    if (recovery_point.load() >= target.value()) return Status();
  }
  SyncWaiter me;
  me.thread = std::this_thread::get_id();
  me.target = target.value();
  me.write = write;
  me.unwritten = write != nullptr;
  sync_waiters.push_back(&me);
  if (leader != nullptr) {
    if (gathering && pending_waiters() >= gather_expected) gather_cv.notify_one();
    lock.unlock();
    std::uint32_t state = SyncWaiter::kWaiting;
    for (;;) {
      const std::uint32_t epoch = sync_epoch.load(std::memory_order_acquire);
      state = me.state.load(std::memory_order_acquire);
      if (state != SyncWaiter::kWaiting) break;
      futex_wait(sync_epoch, epoch);
    }
    if (state == SyncWaiter::kDone) return me.status;
    lock.lock();  // handed the lead: `leader` is already &me
  } else {
    leader = &me;
  }
  return lead(lock, me);
}

void Log::Impl::release_waiter(SyncWaiter& w, std::uint32_t state, const Status& status,
                               Wakes& wakes) {
  if (state == SyncWaiter::kDone) {
    const auto it = std::find(sync_waiters.begin(), sync_waiters.end(), &w);
    if (it != sync_waiters.end()) sync_waiters.erase(it);
    w.completed = true;
    w.status = status;
    if (&w == leader) return;  // not asleep: it reads `completed` after its sync
  }
  wakes.emplace_back(&w, state);
}

// Without sync_mu: the woken threads need it soon. One store per waiter, then one futex
// wake for all of them on `sync_epoch` (waking each on its own word took ~11 us a thread on
// this 2-core VM, the waker preempted by each wakee: 170 us to wake 16 appenders).
// A waiter may return as soon as it sees its state, so that store is the last touch.
void Log::Impl::wake(const Wakes& wakes) {
  if (wakes.empty()) return;
  for (const auto& [w, state] : wakes) w->state.store(state, std::memory_order_release);
  sync_epoch.fetch_add(1, std::memory_order_release);
  futex_wake_all(sync_epoch);
}

Status Log::Impl::truncated_before_durable(Offset end, Offset target) const {
  return Status::failed_precondition(
      fmt::format("log {} was truncated to offset {} while offsets below {} waited to become "
                  "durable: the records past {} are gone",
                  dir, end.value(), target.value(), end.value()));
}

void Log::Impl::note_truncation(std::int64_t end) {
  ++truncations;
  truncation_ends.emplace_back(truncations.load(), end);
  if (truncation_ends.size() > 64) truncation_ends.erase(truncation_ends.begin());
}

std::int64_t Log::Impl::lowest_end_since(std::uint64_t generation) const {
  if (truncation_ends.empty() || truncation_ends.front().first > generation + 1) return -1;
  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  for (const auto& [gen, end] : truncation_ends) {
    if (gen > generation) lowest = std::min(lowest, end);
  }
  return lowest;
}

void Log::Impl::fail_waiters_past(std::int64_t end, const Status& status, Wakes& wakes) {
  fail_waiters(
      end, [&](const SyncWaiter&) { return status; }, wakes);
}

void Log::Impl::fail_waiters_past(std::int64_t end, Offset truncated_to, Wakes& wakes) {
  fail_waiters(
      end,
      [&](const SyncWaiter& w) { return truncated_before_durable(truncated_to, Offset(w.target)); },
      wakes);
}

void Log::Impl::fail_waiters(std::int64_t end,
                             const std::function<Status(const SyncWaiter&)>& status_of,
                             Wakes& wakes) {
  std::vector<SyncWaiter*> cut;
  for (SyncWaiter* w : sync_waiters) {
    // A claimed waiter is the leader's to complete; an unwritten one lost nothing to a
    // truncation (it is written later, after it) but does to a failure.
    if (w->claimed || (w->unwritten && end >= 0)) continue;
    if (w->unwritten || w->target > end) cut.push_back(w);
  }
  for (SyncWaiter* w : cut) release_waiter(*w, SyncWaiter::kDone, status_of(*w), wakes);
}

// Waiters whose bytes no sync has covered yet (the leader among them).
std::size_t Log::Impl::pending_waiters() const {
  const std::int64_t durable = recovery_point.load();
  return static_cast<std::size_t>(
      std::count_if(sync_waiters.begin(), sync_waiters.end(),
                    [&](const SyncWaiter* w) { return w->unwritten || w->target > durable; }));
}

// The group to wait for: the threads the last sync covered (they are on their way back)
// and those waiting now, each counted once. One appender alone expects only itself.
std::size_t Log::Impl::expected_group() const {
  std::vector<std::thread::id> ids = last_group;
  for (const SyncWaiter* w : sync_waiters) ids.push_back(w->thread);
  std::sort(ids.begin(), ids.end());
  return static_cast<std::size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
}

// Waits until the expected group has written, or for half the last fdatasync's duration:
// the wait then costs at most a third of the throughput a sync of the whole group gains
// over a sync of half of it. A wait that runs out (appenders that append only now and then,
// or one that stopped) is not tried again for the next 1, 2, 4 ... 64 syncs, so such
// appenders pay it on at most one sync in 64; a wait that fills its group resets that.
void Log::Impl::gather_group(std::unique_lock<std::mutex>& lock) {
  if (gather_skip > 0) {
    --gather_skip;
    return;
  }
  gather_expected = expected_group();
  if (pending_waiters() >= gather_expected) return;
  const auto limit =
      std::min<std::chrono::nanoseconds>(last_sync_time / 2, std::chrono::milliseconds(2));
  gathering = true;
  const bool full = gather_cv.wait_for(
      lock, limit, [&] { return failed.load() || pending_waiters() >= gather_expected; });
  gathering = false;
  if (full) {
    gather_backoff = 0;
  } else {
    gather_backoff = std::min(std::max(1, gather_backoff * 2), 64);
    gather_skip = gather_backoff;
  }
}

// The leader's turn, with sync_mu held (released while it writes and syncs). Returns
// without it, with the lead handed on (or given up) and `me` out of sync_waiters.
Status Log::Impl::lead(std::unique_lock<std::mutex>& lock, SyncWaiter& me) {
  Status result;
  Wakes wakes;
  for (;;) {
    if (me.completed) {  // its append was refused, a truncation cut it, or the log failed
      result = me.status;
      break;
    }
    if (failed.load()) {
      result = failure;
      break;
    }
    if (!me.unwritten && recovery_point.load() >= me.target) break;
    gather_group(lock);
    // The appends to write, in arrival order. Claimed: nobody else completes them (and
    // lets their threads go) while this thread still writes their results.
    std::vector<SyncWaiter*> writes;
    for (SyncWaiter* w : sync_waiters) {
      if (w->unwritten) {
        w->claimed = true;
        writes.push_back(w);
      }
    }
    lock.unlock();
    std::vector<Result<AppendInfo>> written;
    written.reserve(writes.size());
    std::shared_ptr<Segment> seg;
    std::int64_t upto = 0;
    std::uint64_t generation = 0;
    {
      std::lock_guard write_lock(write_mu);
      for (SyncWaiter* w : writes) {
        const WriteRequest& r = *w->write;
        written.push_back(write_locked(r.batches, *r.spans, r.records, *r.options));
      }
      seg = active();
      upto = log_end.load();
      generation = truncations.load();
    }
    // Everything before the active segment was synced when it rolled.
    Status s;
    std::chrono::nanoseconds took{0};
    if (upto > recovery_point.load()) {
      const auto start = std::chrono::steady_clock::now();
      s = seg->sync();
      took = std::chrono::steady_clock::now() - start;
    }
    lock.lock();
    for (std::size_t i = 0; i < writes.size(); ++i) {
      SyncWaiter& w = *writes[i];
      w.claimed = false;
      w.unwritten = false;
      if (!written[i].ok()) {
        release_waiter(w, SyncWaiter::kDone, written[i].status(), wakes);
        continue;
      }
      w.write->info = *written[i];
      w.target = written[i]->last_offset.value() + 1;
    }
    if (!s.ok()) record_failure(s);
    if (failed.load()) {
      // The appends this sync was for get its error. If something else failed the log
      // during the round (a roll's fdatasync in one of the writes, say), a later fdatasync
      // that succeeds proves nothing about the pages the failed one dropped: nobody is
      // acknowledged, and all get the failure.
      const Status error = s.ok() ? failure : s;
      fail_waiters_past(-1, error, wakes);
      if (!me.completed) release_waiter(me, SyncWaiter::kDone, error, wakes);
      continue;
    }
    if (took.count() > 0) last_sync_time = took;
    if (generation != truncations.load()) {
      // A truncation ran between the writes and now: what it cut is gone; the rest needs a
      // sync that started after it.
      const std::int64_t end = lowest_end_since(generation);
      std::vector<SyncWaiter*> cut;
      for (SyncWaiter* w : writes) {
        if (!w->completed && w->target > end) cut.push_back(w);
      }
      for (SyncWaiter* w : cut) {
        release_waiter(*w, SyncWaiter::kDone,
                       truncated_before_durable(Offset(end), Offset(w->target)), wakes);
      }
      continue;
    }
    recovery_point = std::max(recovery_point.load(), upto);
    last_group.clear();
    std::vector<SyncWaiter*> covered;
    for (SyncWaiter* w : sync_waiters) {
      if (!w->unwritten && w->target <= upto) {
        last_group.push_back(w->thread);
        if (w != &me) covered.push_back(w);
      }
    }
    for (SyncWaiter* w : covered) release_waiter(*w, SyncWaiter::kDone, Status(), wakes);
  }
  if (failed.load()) fail_waiters_past(-1, failure, wakes);
  const auto it = std::find(sync_waiters.begin(), sync_waiters.end(), &me);
  if (it != sync_waiters.end()) sync_waiters.erase(it);
  leader = nullptr;
  if (!sync_waiters.empty()) {
    leader = sync_waiters.front();
    release_waiter(*leader, SyncWaiter::kLead, Status(), wakes);
  }
  lock.unlock();
  wake(wakes);
  return result;
}

}  // namespace samsa
