// elect_leader / elect_preferred_leader / alter_isr: the election order of
// include/samsa/partition_election.h, one small case per rule.
#include <catch2/catch.hpp>

#include <set>

#include "samsa/partition_election.h"

using namespace samsa;

namespace {

std::vector<BrokerId> ids(std::initializer_list<int> v) {
  std::vector<BrokerId> out;
  for (int i : v) out.push_back(BrokerId(i));
  return out;
}

PartitionState three(std::initializer_list<int> isr, int leader) {
  PartitionState s;
  s.replicas = ids({1, 2, 3});
  s.isr = ids(isr);
  s.leader = BrokerId(leader);
  s.leader_epoch = LeaderEpoch(5);
  s.partition_epoch = PartitionEpoch(9);
  return s;
}

auto alive_set(std::set<int> up) {
  return [up](BrokerId id) { return up.count(id.value()) > 0; };
}

}  // namespace

TEST_CASE("A live leader stays; a dead one is replaced from the ISR in assignment order",
          "[election]") {
  ElectionConfig c{.min_insync_replicas = 2};
  CHECK(elect_leader(three({1, 2, 3}, 1), alive_set({1, 2, 3}), c).kind == ElectionKind::unchanged);
  auto r = elect_leader(three({1, 2, 3}, 1), alive_set({2, 3}), c);
  CHECK(r.kind == ElectionKind::isr);
  CHECK(r.next.leader == BrokerId(2));
  CHECK(r.next.isr == ids({2, 3}));
  CHECK(r.next.leader_epoch == LeaderEpoch(6));
  CHECK(r.next.partition_epoch == PartitionEpoch(10));
  CHECK(r.next.elr.empty());  // the ISR is still at min ISR
}

TEST_CASE("Below min ISR the departed join the ELR, which elects when the ISR is gone",
          "[election][kip966]") {
  ElectionConfig c{.min_insync_replicas = 2};
  auto r = elect_leader(three({1, 2}, 1), alive_set({2, 3}), c);
  CHECK(r.next.leader == BrokerId(2));
  CHECK(r.next.elr == ids({1}));
  // 2 dies too: nobody in the ISR; 1 is back and in the ELR.
  auto r2 = elect_leader(r.next, alive_set({1, 3}), c);
  CHECK(r2.kind == ElectionKind::elr);
  CHECK(r2.next.leader == BrokerId(1));
  CHECK(r2.next.isr == ids({1}));
  // 3 never held every committed record: not eligible without unclean election.
  auto r3 = elect_leader(r.next, alive_set({3}), c);
  CHECK(r3.kind == ElectionKind::offline);
  CHECK(r3.next.leader == BrokerId::none());
  c.unclean_leader_election_enable = true;
  auto r4 = elect_leader(r.next, alive_set({3}), c);
  CHECK(r4.kind == ElectionKind::unclean);
  CHECK(r4.next.isr == ids({3}));
  CHECK(r4.next.elr.empty());
}

TEST_CASE("Preferred-leader election moves leadership to replicas[0] only when in the ISR",
          "[election]") {
  auto r = elect_preferred_leader(three({1, 2, 3}, 2), alive_set({1, 2, 3}));
  CHECK(r.next.leader == BrokerId(1));
  CHECK(r.next.leader_epoch == LeaderEpoch(6));
  CHECK(elect_preferred_leader(three({2, 3}, 2), alive_set({1, 2, 3})).kind ==
        ElectionKind::unchanged);
}

TEST_CASE("AlterPartition checks the epochs and the new members", "[election][kip497]") {
  ElectionConfig c{.min_insync_replicas = 2};
  const PartitionState s = three({1, 2}, 1);
  const auto up = alive_set({1, 2, 3});
  CHECK(alter_isr(s, BrokerId(1), LeaderEpoch(4), PartitionEpoch(9), ids({1, 2, 3}), up, c).error ==
        KafkaError::fenced_leader_epoch);
  CHECK(alter_isr(s, BrokerId(1), LeaderEpoch(5), PartitionEpoch(8), ids({1, 2, 3}), up, c).error ==
        KafkaError::invalid_update_version);
  CHECK(alter_isr(s, BrokerId(1), LeaderEpoch(5), PartitionEpoch(9), ids({1, 2, 3}),
                  alive_set({1, 2}), c)
            .error == KafkaError::ineligible_replica);
  auto ok = alter_isr(s, BrokerId(1), LeaderEpoch(5), PartitionEpoch(9), ids({1, 2, 3}), up, c);
  CHECK(ok.error == KafkaError::none);
  CHECK(ok.next.isr == ids({1, 2, 3}));
  CHECK(ok.next.partition_epoch == PartitionEpoch(10));
  auto shrink =
      alter_isr(ok.next, BrokerId(1), LeaderEpoch(5), PartitionEpoch(10), ids({1}), up, c);
  CHECK(shrink.next.elr == ids({2, 3}));
}
