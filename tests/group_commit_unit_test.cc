// The decisions of group commit (lib/group_commit.h) driven step by step, with no thread,
// lock, clock or file: each test plays one interleaving of leaders, queued appends (the
// leader writes them), self-written appends (they wrote under write_mu themselves and only
// wait for a sync), truncations and failures, and checks who is acknowledged, cut or failed.
#include <catch2/catch.hpp>

#include <algorithm>

#include "group_commit.h"

using namespace samsa;
using namespace samsa::internal;

namespace {

constexpr std::string_view kDir = "/unit";

// A waiter that wrote its own append up to `target` and waits for a sync.
CommitWaiter self_written(std::uint64_t appender, std::int64_t target) {
  CommitWaiter w;
  w.appender = appender;
  w.target = Offset(target);
  return w;
}

// A waiter whose append the leader writes.
CommitWaiter queued(std::uint64_t appender) {
  CommitWaiter w;
  w.appender = appender;
  w.target = Offset::none();
  w.unwritten = true;
  return w;
}

WriteOutcome written(std::int64_t next) {
  return {Status(), Offset(next)};
}

bool woken(const Wakes& wakes, const CommitWaiter& w, WakeKind kind) {
  return std::count(wakes.begin(), wakes.end(), std::pair(const_cast<CommitWaiter*>(&w), kind)) ==
         1;
}

// A round that synced to `to` with no truncation or failure meanwhile.
RoundResult synced(std::int64_t to, std::vector<WriteOutcome> writes = {},
                   std::uint64_t generation = 0) {
  RoundResult r;
  r.writes = std::move(writes);
  r.synced_to = Offset(to);
  r.generation = generation;
  r.generation_after = generation;
  return r;
}

}  // namespace

TEST_CASE("GroupCommit: a lone sync leads, syncs and is acknowledged", "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter me = self_written(1, 5);
  REQUIRE(gc.wait(me));
  CHECK_FALSE(gc.leader_done(me, std::nullopt).has_value());  // not durable yet: a round
  CHECK(gc.claim_writes().empty());
  Wakes wakes;
  gc.finish_round({}, synced(5), kDir, wakes);
  CHECK(gc.durable() == Offset(5));
  CHECK(wakes.empty());  // the leader is awake; it sees its own result
  const auto done = gc.leader_done(me, std::nullopt);
  REQUIRE(done.has_value());
  CHECK(done->ok());
  gc.leave(me, std::nullopt, wakes);
  CHECK_FALSE(gc.has_leader());
  CHECK(gc.waiting() == 0);
}

TEST_CASE("GroupCommit: a sync already covered returns at once; a second waiter follows",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(7));
  const auto covered = gc.check_sync(Offset(7), 0, 0, kDir);
  REQUIRE(covered.has_value());
  CHECK(covered->ok());
  CHECK_FALSE(gc.check_sync(Offset(8), 0, 0, kDir).has_value());
  CommitWaiter leader = self_written(1, 8);
  CommitWaiter follower = self_written(2, 9);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(follower));  // sleeps: a leader exists
  CHECK(gc.pending() == 2);
}

TEST_CASE("GroupCommit: queued and self-written appends share one sync", "[group_commit][unit]") {
  GroupCommit gc(Offset(10));
  CommitWaiter leader = queued(1);
  CommitWaiter a = queued(2);
  CommitWaiter self = self_written(3, 13);  // wrote [10, 13) itself before queuing
  CommitWaiter b = queued(4);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(a));
  CHECK_FALSE(gc.wait(self));
  CHECK_FALSE(gc.wait(b));
  const auto writes = gc.claim_writes();
  REQUIRE(writes.size() == 3);  // arrival order, the leader's own first
  CHECK(writes[0] == &leader);
  CHECK(writes[1] == &a);
  CHECK(writes[2] == &b);
  CHECK(std::all_of(writes.begin(), writes.end(), [](auto* w) { return w->claimed; }));
  Wakes wakes;
  gc.finish_round(writes, synced(16, {written(14), written(15), written(16)}), kDir, wakes);
  CHECK(gc.durable() == Offset(16));
  CHECK(leader.target == Offset(14));
  CHECK(b.target == Offset(16));
  for (const CommitWaiter* w : {&a, &self, &b}) {
    CHECK(w->completed);
    CHECK(w->status.ok());
    CHECK(woken(wakes, *w, WakeKind::done));
  }
  CHECK_FALSE(leader.completed);
  CHECK(gc.leader_done(leader, std::nullopt).value().ok());
  CHECK(gc.last_group_size() == 4);
}

TEST_CASE("GroupCommit: an append a hook refuses fails alone; the group is acknowledged",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = queued(1);
  CommitWaiter refused = queued(2);
  CommitWaiter after = queued(3);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(refused));
  CHECK_FALSE(gc.wait(after));
  const auto writes = gc.claim_writes();
  Wakes wakes;
  const WriteOutcome refusal{Status::invalid_argument("the hook refuses"), Offset::none()};
  gc.finish_round(writes, synced(2, {written(1), refusal, written(2)}), kDir, wakes);
  CHECK(refused.completed);
  CHECK(refused.status.code() == StatusCode::invalid_argument);
  CHECK(after.completed);
  CHECK(after.status.ok());
  CHECK(gc.leader_done(leader, std::nullopt).value().ok());
}

TEST_CASE("GroupCommit: a refused leader's round still acknowledges the others",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = queued(1);
  CommitWaiter other = queued(2);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(other));
  const auto writes = gc.claim_writes();
  Wakes wakes;
  gc.finish_round(writes, synced(1, {{Status::invalid_argument("no"), Offset::none()}, written(1)}),
                  kDir, wakes);
  REQUIRE(leader.completed);  // out of the group, not woken (it is awake)
  CHECK_FALSE(woken(wakes, leader, WakeKind::done));
  CHECK(gc.leader_done(leader, std::nullopt).value().code() == StatusCode::invalid_argument);
  CHECK(other.status.ok());
  CHECK(woken(wakes, other, WakeKind::done));
  gc.leave(leader, std::nullopt, wakes);
  CHECK_FALSE(gc.has_leader());
}

TEST_CASE(
    "GroupCommit: a truncation during the sync cuts the writes past it; the rest waits "
    "for a sync after it",
    "[group_commit][unit]") {
  GroupCommit gc(Offset(4));
  CommitWaiter leader = queued(1);
  CommitWaiter cut = queued(2);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(cut));
  const auto writes = gc.claim_writes();
  // The leader wrote [4, 5) and [5, 7) and synced to 7; meanwhile the log was truncated to
  // 5 (truncation 1). Claimed writes are the leader's: the truncation leaves them.
  Wakes wakes;
  gc.truncated(1, Offset(5), kDir, wakes);
  CHECK(wakes.empty());
  RoundResult round = synced(7, {written(5), written(7)});
  round.generation_after = 1;
  gc.finish_round(writes, round, kDir, wakes);
  CHECK(gc.durable() == Offset(4));  // the sync proves nothing: it overlapped a truncation
  REQUIRE(cut.completed);
  CHECK(cut.status.code() == StatusCode::failed_precondition);
  CHECK(cut.status.message().find("truncated to offset 5") != std::string::npos);
  CHECK_FALSE(leader.completed);
  // The next round, no truncation overlapping it, acknowledges the leader's [4, 5).
  CHECK_FALSE(gc.leader_done(leader, std::nullopt).has_value());
  CHECK(gc.claim_writes().empty());
  gc.finish_round({}, synced(5, {}, 1), kDir, wakes);
  CHECK(gc.leader_done(leader, std::nullopt).value().ok());
}

TEST_CASE(
    "GroupCommit: a truncation while waiting fails written waiters past it, not the "
    "unwritten ones",
    "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = self_written(1, 3);
  CommitWaiter kept = self_written(2, 2);
  CommitWaiter past = self_written(3, 6);
  CommitWaiter unwritten = queued(4);
  REQUIRE(gc.wait(leader));
  for (CommitWaiter* w : {&kept, &past, &unwritten}) CHECK_FALSE(gc.wait(*w));
  Wakes wakes;
  gc.truncated(1, Offset(2), kDir, wakes);
  CHECK(past.completed);
  CHECK(past.status.code() == StatusCode::failed_precondition);
  CHECK(woken(wakes, past, WakeKind::done));
  CHECK(leader.completed);  // its target 3 is past 2; not woken, it leads
  CHECK_FALSE(woken(wakes, leader, WakeKind::done));
  CHECK_FALSE(kept.completed);
  CHECK_FALSE(unwritten.completed);
  gc.leave(leader, std::nullopt, wakes);
  CHECK(woken(wakes, kept, WakeKind::lead));  // the first left takes the lead
  CHECK(gc.is_leader(kept));
}

TEST_CASE("GroupCommit: a sync whose target a truncation since cut fails before waiting",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  Wakes wakes;
  gc.truncated(1, Offset(3), kDir, wakes);
  gc.truncated(2, Offset(8), kDir, wakes);
  const auto cut = gc.check_sync(Offset(5), 0, 2, kDir);  // read before both
  REQUIRE(cut.has_value());
  CHECK(cut->message().find("truncated to offset 3") != std::string::npos);
  CHECK_FALSE(gc.check_sync(Offset(5), 1, 2, kDir).has_value());  // read after the cut to 3
  // More truncations than are kept since: how low one cut is unknown.
  for (std::uint64_t g = 3; g <= 3 + GroupCommit::kTruncationsKept; ++g) {
    gc.truncated(g, Offset(8), kDir, wakes);
  }
  const auto unknown = gc.check_sync(Offset(5), 1, 3 + GroupCommit::kTruncationsKept, kDir);
  REQUIRE(unknown.has_value());
  CHECK(unknown->code() == StatusCode::failed_precondition);
}

TEST_CASE("GroupCommit: no append is acknowledged by a round in which a roll's fdatasync failed",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = queued(1);
  CommitWaiter self = self_written(2, 1);
  CommitWaiter queued_one = queued(3);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(self));
  CHECK_FALSE(gc.wait(queued_one));
  const auto writes = gc.claim_writes();
  // The second write rolled, the roll's fdatasync failed (the log failed), and the round's
  // own fdatasync then succeeded: it proves nothing about the pages the failed one dropped.
  Wakes wakes;
  RoundResult round =
      synced(3, {written(2), {Status::io_error("roll: fdatasync"), Offset::none()}});
  round.log_failure = Status::failed_precondition("log stopped after: roll: fdatasync");
  gc.finish_round(writes, round, kDir, wakes);
  CHECK(gc.durable() == Offset(0));
  for (const CommitWaiter* w : {&leader, &self, &queued_one}) {
    REQUIRE(w->completed);
    CHECK_FALSE(w->status.ok());
  }
  CHECK(self.status.code() == StatusCode::failed_precondition);
  CHECK(queued_one.status.code() == StatusCode::io_error);  // its own write's error
  CHECK(gc.leader_done(leader, std::nullopt).value().code() == StatusCode::failed_precondition);
}

TEST_CASE("GroupCommit: a failed fdatasync fails every waiter with its error",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = self_written(1, 2);
  CommitWaiter other = self_written(2, 4);
  REQUIRE(gc.wait(leader));
  CHECK_FALSE(gc.wait(other));
  Wakes wakes;
  RoundResult round = synced(4);
  round.sync_status = Status::io_error("fdatasync: EIO");
  round.log_failure = Status::failed_precondition("log stopped");
  gc.finish_round({}, round, kDir, wakes);
  CHECK(leader.status.code() == StatusCode::io_error);
  CHECK(other.status.code() == StatusCode::io_error);
  CHECK(woken(wakes, other, WakeKind::done));
  CHECK(gc.durable() == Offset(0));
}

TEST_CASE("GroupCommit: a failure elsewhere completes every unclaimed waiter",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = queued(1);
  REQUIRE(gc.wait(leader));
  const auto writes = gc.claim_writes();  // the leader's own, claimed
  CommitWaiter late = queued(2);          // arrives while the leader writes
  CHECK_FALSE(gc.wait(late));
  Wakes wakes;
  gc.failed(Status::failed_precondition("log stopped"), wakes);
  CHECK(late.completed);
  CHECK(woken(wakes, late, WakeKind::done));
  CHECK_FALSE(leader.completed);  // claimed: the leader completes it after its round
  CHECK(gc.leader_done(leader, Status::failed_precondition("log stopped")).has_value());
}

TEST_CASE("GroupCommit: a gather wait that runs out backs off 1, 2, 4 ... syncs",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter leader = self_written(1, 1);
  REQUIRE(gc.wait(leader));
  Wakes wakes;
  gc.finish_round({}, synced(1), kDir, wakes);  // last group: appender 1
  // Appender 2 joined the last group too: a leader alone now expects it.
  CommitWaiter a = self_written(1, 2);
  CommitWaiter b = self_written(2, 2);
  gc.leave(leader, std::nullopt, wakes);
  REQUIRE(gc.wait(a));
  CHECK_FALSE(gc.wait(b));
  gc.finish_round({}, synced(2), kDir, wakes);  // last group: appenders 1 and 2
  gc.leave(a, std::nullopt, wakes);
  CommitWaiter alone = self_written(1, 3);
  REQUIRE(gc.wait(alone));
  GatherPlan plan = gc.gather_plan(10'000'000);
  CHECK(plan.wait);
  CHECK(plan.expected == 2);
  CHECK(plan.wait_limit_ns == GroupCommit::kGatherWaitMaxNs);  // half of 10 ms is more
  CHECK(gc.gather_plan(1'000'000).wait_limit_ns == 500'000);
  int skipped_before_next_wait = 0;
  for (const int expected_skips : {1, 2, 4, 8, 16, 32, 64, 64}) {
    gc.gathered(false);  // ran out
    skipped_before_next_wait = 0;
    while (!gc.gather_plan(1'000'000).wait) ++skipped_before_next_wait;
    CHECK(skipped_before_next_wait == expected_skips);
  }
  gc.gathered(true);  // a full group resets the back-off
  CHECK(gc.gather_plan(1'000'000).wait);
}

TEST_CASE("GroupCommit: a complete group tells the mechanics to wake the gathering leader",
          "[group_commit][unit]") {
  GroupCommit gc(Offset(0));
  CommitWaiter first = self_written(1, 1);
  CommitWaiter second = self_written(2, 1);
  REQUIRE(gc.wait(first));
  CHECK_FALSE(gc.wait(second));
  Wakes wakes;
  gc.finish_round({}, synced(1), kDir, wakes);  // covers both: the last group is {1, 2}
  CHECK(second.completed);
  gc.leave(first, std::nullopt, wakes);
  CHECK_FALSE(gc.has_leader());
  CommitWaiter lead = self_written(1, 2);
  REQUIRE(gc.wait(lead));
  const GatherPlan plan = gc.gather_plan(1'000'000);
  REQUIRE(plan.wait);
  CHECK_FALSE(gc.group_gathered());
  CommitWaiter join = queued(2);
  CHECK_FALSE(gc.wait(join));
  CHECK(gc.group_gathered());
}
