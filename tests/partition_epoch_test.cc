// Leader-epoch truncation scenarios from KIP-101 and KIP-279, as stories: replicas are
// Partitions, replication copies batches with append_as_follower, and a returning follower
// reconciles its log with the leader's through end_offset_for_epoch (OffsetForLeaderEpoch)
// before fetching, as Kafka's fetcher does.
#include <catch2/catch.hpp>

#include "partition_test_util.h"
#include "samsa/replica_set.h"

using namespace samsa;
using namespace samsa::test;

namespace {

PartitionConfig replicated() {
  PartitionConfig config;
  config.replicated = true;
  return config;
}

// The follower's side of Kafka's truncation, with the library's decision
// (samsa::follower_truncation, what ReplicaSet uses): ask the leader where the follower's
// latest epoch ended, cut where the decision says, and ask again until it is complete.
// Returns the rounds taken.
int reconcile(PartitionFixture& leader, PartitionFixture& follower) {
  constexpr int kRoundsMax = 16;
  for (int round = 1; round <= kRoundsMax; ++round) {
    const auto latest = follower.partition->latest_epoch();
    if (!latest) return round;  // an empty follower has nothing to cut
    const EpochEndOffset answer = leader.partition->end_offset_for_epoch(*latest);
    const EpochEndOffset mine = answer.end_offset == Offset::none()
                                    ? EpochEndOffset{}
                                    : follower.partition->end_offset_for_epoch(answer.epoch);
    const TruncationDecision d = follower_truncation(
        answer, mine, follower.partition->log_end_offset(), follower.partition->high_watermark());
    REQUIRE(follower.partition->truncate_to(d.offset).ok());
    if (d.complete) return round;
  }
  FAIL("reconcile did not finish in 16 rounds");
  return -1;
}

}  // namespace

TEST_CASE(
    "KIP-101 scenario 1: a restarted follower keeps what its high watermark had not "
    "reached",
    "[partition][epoch][kip101]") {
  PartitionFixture a(replicated(), "/a/t-0");
  PartitionFixture b(replicated(), "/b/t-0");
  // A leads in epoch 0 and writes m1, m2; B copies both but learns only HW = 1.
  a.append_plain(1, LeaderEpoch(0));
  a.append_plain(1, LeaderEpoch(0));
  replicate(a, b);
  REQUIRE(a.partition->update_high_watermark(Offset(2)).ok());
  REQUIRE(b.partition->high_watermark() == Offset(0));
  REQUIRE(b.partition->update_high_watermark(Offset(1)).ok());
  // B restarts. Truncating to its high watermark would drop m2, which A has acknowledged;
  // asking A where epoch 0 ends keeps it.
  b.reopen();
  CHECK(reconcile(a, b) == 1);
  CHECK(b.partition->log_end_offset() == Offset(2));
  // A dies; B leads in epoch 1 and m2 is still there.
  b.append_plain(1, LeaderEpoch(1));
  CHECK(b.read_values(Offset(0), Isolation::log_end) ==
        std::vector<std::string>{"0:plain-0", "1:plain-1", "2:plain-0"});
}

TEST_CASE("KIP-101 scenario 2: a replica whose log diverged is truncated to the leader's",
          "[partition][epoch][kip101]") {
  PartitionFixture a(replicated(), "/a/t-0");
  PartitionFixture b(replicated(), "/b/t-0");
  a.append_plain(1, LeaderEpoch(0));  // m1 at 0, on both
  replicate(a, b);
  a.append_plain(1, LeaderEpoch(0));  // m2 at 1, on A only
  // Both crash; B comes back first and leads in epoch 1, writing m3 at offset 1.
  b.append_plain(1, LeaderEpoch(1));
  // A returns as a follower: epoch 0 ended at offset 1 on B, so m2 goes.
  CHECK(reconcile(b, a) == 1);
  CHECK(a.partition->log_end_offset() == Offset(1));
  replicate(b, a);
  CHECK(a.read_batches(Offset(0), Isolation::log_end).back().leader_epoch == LeaderEpoch(1));
  CHECK(a.read_values(Offset(0), Isolation::log_end) ==
        b.read_values(Offset(0), Isolation::log_end));
  CHECK(a.partition->epoch_entries() == b.partition->epoch_entries());
}

TEST_CASE(
    "KIP-279: a follower whose latest epoch the leader never had truncates to where "
    "their common epoch ended",
    "[partition][epoch][kip279]") {
  PartitionFixture a(replicated(), "/a/t-0");
  PartitionFixture b(replicated(), "/b/t-0");
  a.append_plain(2, LeaderEpoch(0));  // [0, 2) on both
  replicate(a, b);
  a.append_plain(2, LeaderEpoch(1));  // A led epoch 1 briefly: [2, 4), never replicated
  b.append_plain(3, LeaderEpoch(2));  // B leads epoch 2: [2, 5)
  // A asks where epoch 1 ended; B never had it and answers with epoch 0, ending at 2.
  CHECK(b.partition->end_offset_for_epoch(LeaderEpoch(1)) ==
        EpochEndOffset{LeaderEpoch(0), Offset(2)});
  CHECK(reconcile(b, a) == 1);
  CHECK(a.partition->log_end_offset() == Offset(2));
  replicate(b, a);
  CHECK(a.read_values(Offset(0), Isolation::log_end) ==
        b.read_values(Offset(0), Isolation::log_end));
  CHECK(a.partition->epoch_entries() == b.partition->epoch_entries());
}

TEST_CASE("KIP-279: fast leader changes need more than one round of OffsetForLeaderEpoch",
          "[partition][epoch][kip279]") {
  PartitionFixture a(replicated(), "/a/t-0");
  PartitionFixture b(replicated(), "/b/t-0");
  a.append_plain(2, LeaderEpoch(0));  // [0, 2) on both
  replicate(a, b);
  a.append_plain(1, LeaderEpoch(1));  // A: epoch 1 at [2, 3)
  b.append_plain(2, LeaderEpoch(2));  // B: epoch 2 at [2, 4)
  a.append_plain(2, LeaderEpoch(3));  // A: epoch 3 at [3, 5)
  b.append_plain(2, LeaderEpoch(4));  // B: epoch 4 at [4, 6), B leads
  // Round 1: B says epoch 3 -> (2, 4); A's epoch 2 is epoch 1 ending at 3: cut at 3, ask
  // again. Round 2: epoch 1 -> (0, 2) on B, and A has epoch 0: cut at 2.
  CHECK(reconcile(b, a) == 2);
  CHECK(a.partition->log_end_offset() == Offset(2));
  replicate(b, a);
  CHECK(a.read_values(Offset(0), Isolation::log_end) ==
        b.read_values(Offset(0), Isolation::log_end));
  CHECK(a.partition->epoch_entries() == std::vector<EpochEntry>{{LeaderEpoch(0), Offset(0)},
                                                                {LeaderEpoch(2), Offset(2)},
                                                                {LeaderEpoch(4), Offset(4)}});
}

TEST_CASE("KIP-101: a follower that restarts after a power cut reconciles without loss",
          "[partition][epoch][kip101]") {
  PartitionFixture a(replicated(), "/a/t-0");
  PartitionFixture b(replicated(), "/b/t-0");
  for (int i = 0; i < 5; ++i) a.append_plain(2, LeaderEpoch(i / 2));
  replicate(a, b);
  REQUIRE(b.partition->flush().ok());
  b.power_cut_and_reopen();
  CHECK(b.partition->epoch_entries() == a.partition->epoch_entries());
  reconcile(a, b);
  CHECK(b.partition->log_end_offset() == Offset(10));
}
