// Internal: the decisions of group commit, as a pure unit. Who leads, which appends the
// leader writes, who a finished sync acknowledges, whom a truncation or a failure cuts, how
// long a leader waits for its group: all decided here, with no lock, no clock and no I/O,
// so tests drive every interleaving step by step (tests/group_commit_unit_test.cc).
//
// The mechanics (lib/log_group_commit.cc) hold Log::Impl::sync_mu around every call, do the
// writing and the fdatasync between a round's claim_writes() and finish_round(), read the
// clock, and wake the threads a call lists in its Wakes.
//
// Thread-safety: none; the caller serializes every call (Log::Impl::sync_mu).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa::internal {

// An appender waiting until its offsets are durable. Lives on the appender's stack; the
// GroupCommit holds a pointer to it from wait() until it is completed.
struct CommitWaiter {
  std::uint64_t appender = 0;  // which thread (only sizes the next group)
  Offset target;               // durable once the durable point reaches it (exclusive end)
  bool unwritten = false;      // carries an append the leader writes (which then sets target)
  bool claimed = false;        // in a leader's round: only that leader completes it
  bool completed = false;      // left the group with `status`
  Status status;
};

// What a thread is woken for: its wait is over (status set), or it leads now.
enum class WakeKind : std::uint8_t { done, lead };
// Whom to wake once the caller's lock is released. Never the calling leader (not asleep).
using Wakes = std::vector<std::pair<CommitWaiter*, WakeKind>>;

// What one of a round's writes gave: the end of its append, or why it was not written.
struct WriteOutcome {
  Status status;
  Offset next_offset;  // when ok: last offset + 1 of the append
};

// A leader round as the mechanics ran it, between claim_writes() and finish_round().
struct RoundResult {
  std::vector<WriteOutcome> writes;    // one per claimed waiter, in claim order
  Offset synced_to;                    // the log end read (with `generation`) before the sync
  std::uint64_t generation = 0;        // the truncation count read with synced_to
  std::uint64_t generation_after = 0;  // the truncation count once the sync returned
  Status sync_status;                  // the fdatasync's error, if one ran and failed
  std::optional<Status> log_failure;   // the log failed (this sync, or anything else meanwhile)
};

// How the leader gathers its group before a sync (see gather_plan).
struct GatherPlan {
  bool wait = false;
  std::size_t expected = 0;        // wait until this many waiters are pending
  std::int64_t wait_limit_ns = 0;  // or for this long at most
};

class GroupCommit {
 public:
  // The recorded truncations kept to tell how low one since a generation cut (bounded ring).
  static constexpr std::size_t kTruncationsKept = 64;
  // A gather wait that runs out is not tried again for 1, 2, 4 ... this many syncs.
  static constexpr int kGatherBackoffMax = 64;
  // The longest a leader waits for its group, however long the last fdatasync took.
  static constexpr std::int64_t kGatherWaitMaxNs = 2'000'000;  // 2 ms

  explicit GroupCommit(Offset durable = Offset(0)) : durable_(durable) {}

  // The durable point (the log's recovery point): every offset below it survived an
  // fdatasync that started after it was written.
  Offset durable() const { return durable_; }
  // Moves the durable point up (a roll synced the segment it closed; recovery at open).
  void raise_durable(Offset to);

  // A truncation (counted in `generation`, the new truncation count) left the log ending at
  // `end`: the durable point drops to it, and every waiter whose offsets it cut (written and
  // not claimed) completes with a failed_precondition naming `end` (`dir` names the log).
  void truncated(std::uint64_t generation, Offset end, std::string_view dir, Wakes& wakes);
  // The log failed: every waiter not claimed by the leader completes with `failure`.
  void failed(const Status& failure, Wakes& wakes);

  // Before waiting for durability up to `target` read at `generation` (no append): an error
  // when a truncation since cut below target, ok-and-done when already durable.
  std::optional<Status> check_sync(Offset target, std::uint64_t generation,
                                   std::uint64_t generation_now, std::string_view dir) const;
  // `w` joins the group. True: it leads now (nobody did); false: it sleeps until woken.
  bool wait(CommitWaiter& w);
  bool has_leader() const { return leader_ != nullptr; }
  bool is_leader(const CommitWaiter& w) const { return leader_ == &w; }
  // A leader waits for its group (between gather_plan() and gathered()) and the group is
  // now complete: the mechanics wake it early.
  bool group_gathered() const { return gathering_ && pending() >= gather_expected_; }

  // The leader's loop: nullopt while it must run a round; else its result, with the lead
  // given up.
  std::optional<Status> leader_done(const CommitWaiter& me, const std::optional<Status>& failure);
  // Whether and how long to wait for the group before writing and syncing, given the last
  // fdatasync's duration; call gathered() after the wait.
  GatherPlan gather_plan(std::int64_t last_sync_ns);
  void gathered(bool full);
  // Waiters whose bytes no sync has covered yet (the leader among them).
  std::size_t pending() const;
  // The appends the leader writes this round, in arrival order, now claimed.
  std::vector<CommitWaiter*> claim_writes();
  // Completes the round: records each write, then acknowledges, cuts or fails per `round`.
  void finish_round(const std::vector<CommitWaiter*>& writes, const RoundResult& round,
                    std::string_view dir, Wakes& wakes);
  // The leader leaves with its result; the first waiter left (if any) is handed the lead.
  void leave(CommitWaiter& me, const std::optional<Status>& failure, Wakes& wakes);

  std::size_t waiting() const { return waiters_.size(); }
  std::uint64_t last_group_size() const { return last_group_.size(); }

 private:
  void complete(CommitWaiter& w, const Status& status, Wakes& wakes);
  // The lowest end a truncation after `generation` left; nullopt when too many ran to tell.
  std::optional<Offset> lowest_end_since(std::uint64_t generation) const;
  std::size_t expected_group() const;

  Offset durable_;
  std::vector<CommitWaiter*> waiters_;  // waiting, in arrival order, the leader among them
  CommitWaiter* leader_ = nullptr;      // the one syncing or about to (in waiters_)
  // (truncation count, new end) of the last kTruncationsKept truncations.
  std::vector<std::pair<std::uint64_t, Offset>> truncation_ends_;
  std::vector<std::uint64_t> last_group_;  // the appenders the last sync covered
  int gather_backoff_ = 0;                 // syncs to skip after the next wait that runs out
  int gather_skip_ = 0;                    // syncs left that do not wait for a group
  bool gathering_ = false;                 // the leader waits for its group
  std::size_t gather_expected_ = 0;        // the group it waits for
};

// The error of an append or sync whose offsets below `target` a truncation to `end` cut.
Status truncated_before_durable(std::string_view dir, Offset end, Offset target);

}  // namespace samsa::internal
