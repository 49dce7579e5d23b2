// The decisions of group commit (group_commit.h); the locks, futexes, writes and fdatasync
// that carry them out are in log_group_commit.cc.
#include "group_commit.h"

#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"

namespace samsa::internal {

Status truncated_before_durable(std::string_view dir, Offset end, Offset target) {
  return Status::failed_precondition(
      fmt::format("log {} was truncated to offset {} while offsets below {} waited to become "
                  "durable: the records past {} are gone",
                  dir, end.value(), target.value(), end.value()));
}

void GroupCommit::raise_durable(Offset to) {
  durable_ = std::max(durable_, to);
}

void GroupCommit::complete(CommitWaiter& w, const Status& status, Wakes& wakes) {
  const auto it = std::find(waiters_.begin(), waiters_.end(), &w);
  if (it != waiters_.end()) waiters_.erase(it);
  w.completed = true;
  w.status = status;
  if (&w != leader_) wakes.emplace_back(&w, WakeKind::done);  // the leader is not asleep
}

void GroupCommit::truncated(std::uint64_t generation, Offset end, std::string_view dir,
                            Wakes& wakes) {
  SAMSA_ASSERT(truncation_ends_.empty() || truncation_ends_.back().first < generation,
               "truncation generation {} after {}", generation, truncation_ends_.back().first);
  truncation_ends_.emplace_back(generation, end);
  if (truncation_ends_.size() > kTruncationsKept) truncation_ends_.erase(truncation_ends_.begin());
  durable_ = std::min(durable_, end);
  std::vector<CommitWaiter*> cut;
  for (CommitWaiter* w : waiters_) {
    // A claimed waiter is the leader's to complete; an unwritten one lost nothing (it is
    // written later, after the truncation).
    if (w->claimed || w->unwritten) continue;
    if (w->target > end) cut.push_back(w);
  }
  for (CommitWaiter* w : cut) complete(*w, truncated_before_durable(dir, end, w->target), wakes);
}

void GroupCommit::failed(const Status& failure, Wakes& wakes) {
  std::vector<CommitWaiter*> cut;
  for (CommitWaiter* w : waiters_) {
    if (!w->claimed) cut.push_back(w);  // a claimed one is the leader's to complete
  }
  for (CommitWaiter* w : cut) complete(*w, failure, wakes);
}

std::optional<Offset> GroupCommit::lowest_end_since(std::uint64_t generation) const {
  if (truncation_ends_.empty() || truncation_ends_.front().first > generation + 1) {
    return std::nullopt;
  }
  std::optional<Offset> lowest;
  for (const auto& [gen, end] : truncation_ends_) {
    if (gen > generation && (!lowest || end < *lowest)) lowest = end;
  }
  return lowest;
}

std::optional<Status> GroupCommit::check_sync(Offset target, std::uint64_t generation,
                                              std::uint64_t generation_now,
                                              std::string_view dir) const {
  // A truncation since `target` was read may have cut below it (and appends since may have
  // reached it again with other records): those offsets cannot become durable. Past the
  // truncations kept, how low one cut is unknown: as if to nothing.
  if (generation != generation_now) {
    const Offset lowest = lowest_end_since(generation).value_or(Offset::none());
    if (lowest < target) return truncated_before_durable(dir, lowest, target);
  }
  if (durable_ >= target) return Status();
  return std::nullopt;
}

bool GroupCommit::wait(CommitWaiter& w) {
  waiters_.push_back(&w);
  if (leader_ != nullptr) return false;
  leader_ = &w;
  return true;
}

std::optional<Status> GroupCommit::leader_done(const CommitWaiter& me,
                                               const std::optional<Status>& failure) {
  SAMSA_ASSERT(leader_ == &me, "a waiter that does not lead runs a round");
  if (me.completed) return me.status;  // refused, cut by a truncation, or the log failed
  if (failure) return *failure;
  if (!me.unwritten && durable_ >= me.target) return Status();
  return std::nullopt;
}

std::size_t GroupCommit::pending() const {
  return static_cast<std::size_t>(std::count_if(waiters_.begin(), waiters_.end(), [&](auto* w) {
    return w->unwritten || w->target > durable_;
  }));
}

// The group to wait for: the appenders the last sync covered (they are on their way back)
// and those waiting now, each counted once. One appender alone expects only itself.
std::size_t GroupCommit::expected_group() const {
  std::vector<std::uint64_t> ids = last_group_;
  for (const CommitWaiter* w : waiters_) ids.push_back(w->appender);
  std::sort(ids.begin(), ids.end());
  return static_cast<std::size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
}

// Waits until the expected group has written, or for half the last fdatasync's duration:
// the wait then costs at most a third of the throughput a sync of the whole group gains
// over a sync of half of it. A wait that runs out (appenders that append only now and then,
// or one that stopped) is not tried again for the next 1, 2, 4 ... kGatherBackoffMax syncs,
// so such appenders pay it on at most one sync in kGatherBackoffMax; a full wait resets it.
GatherPlan GroupCommit::gather_plan(std::int64_t last_sync_ns) {
  if (gather_skip_ > 0) {
    --gather_skip_;
    return GatherPlan{};
  }
  const std::size_t expected = expected_group();
  if (pending() >= expected) return GatherPlan{};
  gathering_ = true;
  gather_expected_ = expected;
  return GatherPlan{.wait = true,
                    .expected = expected,
                    .wait_limit_ns = std::min(last_sync_ns / 2, kGatherWaitMaxNs)};
}

void GroupCommit::gathered(bool full) {
  gathering_ = false;
  if (full) {
    gather_backoff_ = 0;
  } else {
    gather_backoff_ = std::min(std::max(1, gather_backoff_ * 2), kGatherBackoffMax);
    gather_skip_ = gather_backoff_;
  }
}

std::vector<CommitWaiter*> GroupCommit::claim_writes() {
  // Claimed: nobody else completes them (and lets their threads go) while the leader still
  // writes their results.
  std::vector<CommitWaiter*> writes;
  for (CommitWaiter* w : waiters_) {
    if (w->unwritten) {
      w->claimed = true;
      writes.push_back(w);
    }
  }
  return writes;
}

void GroupCommit::finish_round(const std::vector<CommitWaiter*>& writes, const RoundResult& round,
                               std::string_view dir, Wakes& wakes) {
  SAMSA_ASSERT(writes.size() == round.writes.size(), "{} writes claimed, {} outcomes",
               writes.size(), round.writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) {
    CommitWaiter& w = *writes[i];
    w.claimed = false;
    w.unwritten = false;
    if (!round.writes[i].status.ok()) {
      complete(w, round.writes[i].status, wakes);  // refused or not written: alone
      continue;
    }
    SAMSA_ASSERT(round.writes[i].next_offset <= round.synced_to,
                 "a write ends at {}, past the end {} read after the writes",
                 round.writes[i].next_offset.value(), round.synced_to.value());
    w.target = round.writes[i].next_offset;
  }
  if (round.log_failure) {
    // The appends this sync was for get its error. If something else failed the log during
    // the round (a roll's fdatasync in one of the writes, say), a later fdatasync that
    // succeeds proves nothing about the pages the failed one dropped: nobody is
    // acknowledged, and all get the failure.
    const Status error = round.sync_status.ok() ? *round.log_failure : round.sync_status;
    failed(error, wakes);
    if (leader_ != nullptr && !leader_->completed) complete(*leader_, error, wakes);
    return;
  }
  SAMSA_ASSERT(round.sync_status.ok(), "a failed fdatasync without a log failure");
  if (round.generation != round.generation_after) {
    // A truncation ran between the writes and now: what it cut is gone; the rest needs a
    // sync that started after it.
    const Offset end = lowest_end_since(round.generation).value_or(Offset::none());
    std::vector<CommitWaiter*> cut;
    for (CommitWaiter* w : writes) {
      if (!w->completed && w->target > end) cut.push_back(w);
    }
    for (CommitWaiter* w : cut) complete(*w, truncated_before_durable(dir, end, w->target), wakes);
    return;
  }
  raise_durable(round.synced_to);
  last_group_.clear();
  std::vector<CommitWaiter*> covered;
  for (CommitWaiter* w : waiters_) {
    if (!w->unwritten && w->target <= round.synced_to) {
      last_group_.push_back(w->appender);
      if (w != leader_) covered.push_back(w);
    }
  }
  for (CommitWaiter* w : covered) complete(*w, Status(), wakes);
}

void GroupCommit::leave(CommitWaiter& me, const std::optional<Status>& failure, Wakes& wakes) {
  SAMSA_ASSERT(leader_ == &me, "a waiter that does not lead leaves the lead");
  if (failure) failed(*failure, wakes);
  const auto it = std::find(waiters_.begin(), waiters_.end(), &me);
  if (it != waiters_.end()) waiters_.erase(it);
  leader_ = nullptr;
  if (!waiters_.empty()) {
    leader_ = waiters_.front();
    wakes.emplace_back(leader_, WakeKind::lead);
  }
}

}  // namespace samsa::internal
