// Floor 7: leader election and ISR changes for one partition, as pure functions the
// controller and the tests share (Kafka's PartitionChangeBuilder, KIP-966).
//
// Election order (elect_leader):
//   1. the first replica, in assignment order, that is in the ISR and alive;
//   2. when the ISR has no live member: the first live replica of the ELR (eligible leader
//      replicas: they left the ISR while it was below min.insync.replicas, so they hold
//      every committed record); the new ISR is that replica alone;
//   3. when the ISR and the ELR are empty: the last known leader (last_known_elr), when it
//      is alive; the new ISR is that replica alone;
//   4. only when unclean.leader.election.enable: any live replica, in assignment order;
//      the ISR is reset to it, the ELR cleared, and the result says the election was
//      unclean (committed records may be lost; the followers' ReplicaSets count what they
//      truncate below their high watermark);
//   5. otherwise the partition is offline: no leader, and the state says so.
// Without the ELR (eligible_leader_replicas_enable = false, Kafka before KIP-966) the ISR
// is never emptied: its last member stays in it while offline, and leads when it returns.
// A preferred-leader election elects replicas[0] only when it is alive and in the ISR.
//
// ELR upkeep on every ISR change (KIP-966): when the new ISR has at least
// min.insync.replicas members the ELR and last_known_elr are cleared; otherwise every
// replica that left the ISR joins the ELR, and members of the ISR leave it.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "samsa/kafka_error.h"
#include "samsa/types.h"

namespace samsa {

// A broker (replica) id: Kafka's int32 broker id. -1 means "none".
struct BrokerId : StrongInt<struct BrokerIdTag, std::int32_t> {
  using StrongInt::StrongInt;
  static constexpr BrokerId none() { return BrokerId(-1); }
};

// The partition epoch: bumped by every change of the partition's state (leader or ISR).
struct PartitionEpoch : StrongInt<struct PartitionEpochTag, std::int32_t> {
  using StrongInt::StrongInt;
};

// The controller's record of one partition (Kafka's PartitionRegistration, the parts
// replication reads).
struct PartitionState {
  std::vector<BrokerId> replicas;  // assignment order; replicas[0] is the preferred leader
  std::vector<BrokerId> isr;
  std::vector<BrokerId> elr;
  std::vector<BrokerId> last_known_elr;
  BrokerId leader = BrokerId::none();  // none: offline
  LeaderEpoch leader_epoch = LeaderEpoch(0);
  PartitionEpoch partition_epoch = PartitionEpoch(0);
  friend bool operator==(const PartitionState&, const PartitionState&) = default;
};

struct ElectionConfig {
  int min_insync_replicas = 1;
  bool unclean_leader_election_enable = false;
  bool eligible_leader_replicas_enable = true;  // KIP-966
};

enum class ElectionKind : std::uint8_t {
  unchanged,          // the leader is alive and stays (or no election was asked)
  isr,                // a clean election from the ISR
  elr,                // from the eligible leader replicas
  last_known_leader,  // the last known leader, alone
  unclean,            // any live replica: committed data may be lost
  offline,            // nobody eligible: no leader
};
std::string_view to_string(ElectionKind kind);

struct ElectionResult {
  PartitionState next;  // leader epoch and partition epoch bumped when anything changed
  ElectionKind kind = ElectionKind::unchanged;
};

// A new leader for `state` when its leader is not alive (or always, with `force`, e.g.
// after the leader's broker was fenced): the order in the file comment. Dead replicas are
// removed from the ISR (joining the ELR as the upkeep rule says).
ElectionResult elect_leader(const PartitionState& state, const std::function<bool(BrokerId)>& alive,
                            const ElectionConfig& config, bool force = false);

// Preferred-leader election: replicas[0] becomes leader when it is alive, in the ISR and
// not already the leader; otherwise the state is returned unchanged.
ElectionResult elect_preferred_leader(const PartitionState& state,
                                      const std::function<bool(BrokerId)>& alive);

// The controller's handling of an AlterPartition from the leader (KIP-497): the leader and
// partition epochs must be the current ones (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION),
// every new ISR member must be a live replica (INELIGIBLE_REPLICA) and the leader must stay
// in it. On success the ISR is replaced, the ELR updated and the partition epoch bumped.
struct AlterResult {
  KafkaError error = KafkaError::none;
  PartitionState next;
};
AlterResult alter_isr(const PartitionState& state, BrokerId from_leader, LeaderEpoch leader_epoch,
                      PartitionEpoch partition_epoch, const std::vector<BrokerId>& new_isr,
                      const std::function<bool(BrokerId)>& alive, const ElectionConfig& config);

// The controller fences a broker (its session expired, or it shut down): it leaves the
// ISR (joining the ELR as the upkeep rule says) and, when it led, a new leader is elected.
ElectionResult fence_broker(const PartitionState& state, BrokerId broker,
                            const std::function<bool(BrokerId)>& alive,
                            const ElectionConfig& config);

// "leader=1 epoch=3/7 isr=(1,2) elr=(3)" for logs and test scripts.
std::string describe(const PartitionState& state);

}  // namespace samsa
