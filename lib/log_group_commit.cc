// Log group commit: how appenders under the durable policy (and Log::sync_to, Log::flush)
// wait for an fdatasync, how one of them leads, writes for the others and syncs, and how a
// truncation or a failure ends the wait. The rest of Log is in log.cc.
#include <fmt/format.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>

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
// takes write_mu once for all of them, where appenders each taking it in turn spent their
// CPU in futex handoffs). The leader then completes each waiter it covered
// and wakes them all with one futex call (wake), and hands the lead to one that arrived
// meanwhile. Who is acknowledged, cut or failed is decided by `group_commit` (group_commit.h);
// this file only carries it out.
//
// A leader that synced as soon as it was elected would cover only those who wrote during
// the previous sync: the appenders that sync released are still encoding their next batch,
// and catch the sync after. Concurrent appenders then split into two cohorts that take
// turns, and every fdatasync carries half of them (measured, benchmarks/README.md). So the
// leader first waits, briefly, for its group (gather_group).
Status Log::Impl::sync_to(Offset target, std::uint64_t generation) {
  return commit(nullptr, target, generation);
}

namespace {

// Names the appender thread for sizing groups; ids are never reused.
std::uint64_t this_appender() {
  static std::atomic<std::uint64_t> next{0};
  thread_local const std::uint64_t id = ++next;
  return id;
}

}  // namespace

Status Log::Impl::commit(WriteRequest* write, Offset target, std::uint64_t generation) {
  std::unique_lock lock(sync_mu);
  if (failed.load()) return failure;
  if (write == nullptr) {
    if (auto done = group_commit.check_sync(target, generation, truncations.load(), dir))
      return *done;
  }
  SyncWaiter me;
  me.appender = this_appender();
  me.target = target;
  me.write = write;
  me.unwritten = write != nullptr;
  if (!group_commit.wait(me)) {
    if (group_commit.group_gathered()) gather_cv.notify_one();
    lock.unlock();
    std::uint32_t state = SyncWaiter::kWaiting;
    // Ends when the leader sets `state`: every waiter is completed or handed the lead by
    // the leader that covers it, fails it, or leaves before it.
    for (;;) {
      const std::uint32_t epoch = sync_epoch.load(std::memory_order_acquire);
      state = me.state.load(std::memory_order_acquire);
      if (state != SyncWaiter::kWaiting) break;
      futex_wait(sync_epoch, epoch);
    }
    if (state == SyncWaiter::kDone) return me.status;
    lock.lock();  // handed the lead: group_commit.is_leader(me)
  }
  return lead(lock, me);
}

// Without sync_mu: the woken threads need it soon. One store per waiter, then one futex
// wake for all of them on `sync_epoch`: waking each on its own word preempted the waker at
// each wakee (benchmarks/README.md, "Timings behind lib/ comments").
// A waiter may return as soon as it sees its state, so that store is the last touch.
void Log::Impl::wake(const internal::Wakes& wakes) {
  if (wakes.empty()) return;
  for (const auto& [w, kind] : wakes) {
    const std::uint32_t state =
        kind == internal::WakeKind::done ? SyncWaiter::kDone : SyncWaiter::kLead;
    static_cast<SyncWaiter*>(w)->state.store(state, std::memory_order_release);
  }
  sync_epoch.fetch_add(1, std::memory_order_release);
  futex_wake_all(sync_epoch);
}

void Log::Impl::note_truncation(Offset end) {
  internal::Wakes wakes;
  std::unique_lock lock(sync_mu);
  ++truncations;
  group_commit.truncated(truncations.load(), end, dir, wakes);
  publish_recovery_point();
  lock.unlock();
  wake(wakes);
}

std::optional<Status> Log::Impl::failure_if_failed() const {
  if (!failed.load()) return std::nullopt;
  return failure;
}

void Log::Impl::publish_recovery_point() {
  recovery_point.store(group_commit.durable(), std::memory_order_release);
  check_offsets();
}

// Waits (sync_mu released meanwhile) as group_commit.gather_plan() says.
void Log::Impl::gather_group(std::unique_lock<std::mutex>& lock) {
  const internal::GatherPlan plan = group_commit.gather_plan(last_sync_ns);
  if (!plan.wait) return;
  const bool full = gather_cv.wait_for(lock, std::chrono::nanoseconds(plan.wait_limit_ns), [&] {
    return failed.load() || group_commit.pending() >= plan.expected;
  });
  group_commit.gathered(full);
}

internal::RoundResult Log::Impl::write_and_sync(const std::vector<internal::CommitWaiter*>& writes,
                                                std::int64_t& sync_ns) {
  internal::RoundResult round;
  round.writes.reserve(writes.size());
  std::shared_ptr<Segment> seg;
  {
    std::lock_guard write_lock(write_mu);
    for (internal::CommitWaiter* w : writes) {
      WriteRequest& r = *static_cast<SyncWaiter*>(w)->write;
      Result<AppendInfo> written = write_locked(r.batches, *r.spans, r.records, *r.options);
      if (!written.ok()) {
        round.writes.push_back({written.status(), Offset::none()});
        continue;
      }
      r.info = *written;  // read by its appender only once woken
      round.writes.push_back({Status(), written->last_offset + 1});
    }
    seg = active();
    round.synced_to = log_end.load();
    round.generation = truncations.load();
  }
  // Everything before the active segment was synced when it rolled.
  sync_ns = 0;
  if (round.synced_to > recovery_point.load()) {
    const std::int64_t start = clock.monotonic_ns();
    round.sync_status = seg->sync();
    sync_ns = clock.monotonic_ns() - start;
  }
  return round;
}

// The leader's turn, with sync_mu held (released while it writes and syncs). Returns
// without it, with the lead handed on (or given up) and `me` out of the group.
Status Log::Impl::lead(std::unique_lock<std::mutex>& lock, SyncWaiter& me) {
  internal::Wakes wakes;
  std::optional<Status> result;
  // Ends at the first round no truncation overlaps: that round writes `me` (if it carries
  // an append) and syncs past its target, or a failure completes it.
  while (!(result = group_commit.leader_done(me, failure_if_failed()))) {
    gather_group(lock);
    const std::vector<internal::CommitWaiter*> writes = group_commit.claim_writes();
    lock.unlock();
    std::int64_t sync_ns = 0;
    internal::RoundResult round = write_and_sync(writes, sync_ns);
    lock.lock();
    if (!round.sync_status.ok()) record_failure(round.sync_status);
    round.log_failure = failure_if_failed();
    round.generation_after = truncations.load();
    group_commit.finish_round(writes, round, dir, wakes);
    publish_recovery_point();
    if (!round.log_failure && sync_ns > 0) last_sync_ns = sync_ns;
  }
  group_commit.leave(me, failure_if_failed(), wakes);
  lock.unlock();
  wake(wakes);
  return *result;
}

}  // namespace samsa
