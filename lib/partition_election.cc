// Elections and ISR changes (include/samsa/partition_election.h); Kafka's
// metadata/.../controller/PartitionChangeBuilder.java is the authority.
#include "samsa/partition_election.h"

#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"

namespace samsa {
namespace {

bool contains(const std::vector<BrokerId>& set, BrokerId id) {
  return std::find(set.begin(), set.end(), id) != set.end();
}

std::string join(const std::vector<BrokerId>& ids) {
  std::string out;
  for (BrokerId id : ids) {
    if (!out.empty()) out.push_back(',');
    out.append(fmt::format("{}", id.value()));
  }
  return out;
}

// KIP-966's ELR upkeep for an ISR change from `old_isr` to `next.isr`.
void update_elr(const std::vector<BrokerId>& old_isr, PartitionState& next,
                const ElectionConfig& config) {
  if (!config.eligible_leader_replicas_enable) {
    next.elr.clear();
    next.last_known_elr.clear();
    return;
  }
  if (static_cast<int>(next.isr.size()) >= config.min_insync_replicas) {
    next.elr.clear();
    next.last_known_elr.clear();
    return;
  }
  for (BrokerId id : old_isr) {
    if (!contains(next.isr, id) && !contains(next.elr, id)) next.elr.push_back(id);
  }
  std::erase_if(next.elr, [&](BrokerId id) { return contains(next.isr, id); });
}

// Without the ELR, Kafka never empties the ISR: its last member stays in it (leader -1)
// and is elected cleanly when it returns.
void keep_last_isr_member(const PartitionState& state, PartitionState& next,
                          const ElectionConfig& config) {
  if (config.eligible_leader_replicas_enable || !next.isr.empty() || state.isr.empty()) return;
  next.isr = {contains(state.isr, state.leader) ? state.leader : state.isr.front()};
}

// The new leader and how it was chosen, or none (offline).
std::pair<BrokerId, ElectionKind> choose(const PartitionState& state,
                                         const std::function<bool(BrokerId)>& alive,
                                         const ElectionConfig& config) {
  for (BrokerId id : state.replicas) {
    if (contains(state.isr, id) && alive(id)) return {id, ElectionKind::isr};
  }
  if (config.eligible_leader_replicas_enable) {
    for (BrokerId id : state.replicas) {
      if (contains(state.elr, id) && alive(id)) return {id, ElectionKind::elr};
    }
    if (state.elr.empty()) {
      for (BrokerId id : state.last_known_elr) {
        if (alive(id)) return {id, ElectionKind::last_known_leader};
      }
    }
  }
  if (config.unclean_leader_election_enable) {
    for (BrokerId id : state.replicas) {
      if (alive(id)) return {id, ElectionKind::unclean};
    }
  }
  return {BrokerId::none(), ElectionKind::offline};
}

}  // namespace

std::string_view to_string(ElectionKind kind) {
  switch (kind) {
    case ElectionKind::unchanged:
      return "unchanged";
    case ElectionKind::isr:
      return "isr";
    case ElectionKind::elr:
      return "elr";
    case ElectionKind::last_known_leader:
      return "last_known_leader";
    case ElectionKind::unclean:
      return "unclean";
    case ElectionKind::offline:
      return "offline";
  }
  return "?";
}

ElectionResult elect_leader(const PartitionState& state, const std::function<bool(BrokerId)>& alive,
                            const ElectionConfig& config, bool force) {
  SAMSA_ASSERT(!state.replicas.empty(), "partition without replicas: {}", describe(state));
  const bool leader_ok = state.leader != BrokerId::none() && alive(state.leader);
  if (leader_ok && !force) return {state, ElectionKind::unchanged};

  PartitionState next = state;
  // Dead replicas leave the ISR (the controller fences them), as does a forced-out leader.
  std::erase_if(next.isr, [&](BrokerId id) { return !alive(id) || (force && id == state.leader); });
  keep_last_isr_member(state, next, config);
  update_elr(state.isr, next, config);
  // The last ISR member to leave, when the ISR and ELR both empty out (KIP-966).
  if (next.isr.empty() && next.elr.empty() && config.eligible_leader_replicas_enable &&
      state.leader != BrokerId::none()) {
    next.last_known_elr = {state.leader};
  }
  auto [leader, kind] = choose(next, alive, config);
  next.leader = leader;
  if (kind == ElectionKind::elr || kind == ElectionKind::last_known_leader ||
      kind == ElectionKind::unclean) {
    next.isr = {leader};
    if (kind == ElectionKind::unclean) next.elr.clear();
    next.last_known_elr.clear();
  }
  // The upkeep rule again, for the ISR the election made: an ISR at min ISR lets the HW
  // move without the ELR, whose members then stop holding every committed record.
  std::erase_if(next.elr, [&](BrokerId id) { return contains(next.isr, id); });
  if (static_cast<int>(next.isr.size()) >= config.min_insync_replicas) {
    next.elr.clear();
    next.last_known_elr.clear();
  }
  if (kind == ElectionKind::offline && state.leader == BrokerId::none() && next.isr == state.isr &&
      next.elr == state.elr && next.last_known_elr == state.last_known_elr) {
    return {state, ElectionKind::unchanged};  // still offline: nothing changed, no new epoch
  }
  next.leader_epoch = LeaderEpoch(state.leader_epoch.value() + 1);
  next.partition_epoch = PartitionEpoch(state.partition_epoch.value() + 1);
  SAMSA_ASSERT(leader == BrokerId::none() || contains(next.isr, leader),
               "elected leader {} outside the ISR: {}", leader.value(), describe(next));
  return {std::move(next), kind};
}

ElectionResult elect_preferred_leader(const PartitionState& state,
                                      const std::function<bool(BrokerId)>& alive) {
  SAMSA_ASSERT(!state.replicas.empty(), "partition without replicas: {}", describe(state));
  const BrokerId preferred = state.replicas.front();
  if (preferred == state.leader || !alive(preferred) || !contains(state.isr, preferred)) {
    return {state, ElectionKind::unchanged};
  }
  PartitionState next = state;
  next.leader = preferred;
  next.leader_epoch = LeaderEpoch(state.leader_epoch.value() + 1);
  next.partition_epoch = PartitionEpoch(state.partition_epoch.value() + 1);
  return {std::move(next), ElectionKind::isr};
}

AlterResult alter_isr(const PartitionState& state, BrokerId from_leader, LeaderEpoch leader_epoch,
                      PartitionEpoch partition_epoch, const std::vector<BrokerId>& new_isr,
                      const std::function<bool(BrokerId)>& alive, const ElectionConfig& config) {
  if (from_leader != state.leader || leader_epoch != state.leader_epoch) {
    return {leader_epoch < state.leader_epoch ? KafkaError::fenced_leader_epoch
                                              : KafkaError::not_leader_or_follower,
            state};
  }
  if (partition_epoch != state.partition_epoch) return {KafkaError::invalid_update_version, state};
  if (!contains(new_isr, from_leader)) return {KafkaError::invalid_request, state};
  for (BrokerId id : new_isr) {
    const bool added = !contains(state.isr, id);
    if (!contains(state.replicas, id) || (added && !alive(id))) {
      return {KafkaError::ineligible_replica, state};
    }
  }
  PartitionState next = state;
  next.isr = new_isr;
  update_elr(state.isr, next, config);
  next.partition_epoch = PartitionEpoch(state.partition_epoch.value() + 1);
  return {KafkaError::none, std::move(next)};
}

ElectionResult fence_broker(const PartitionState& state, BrokerId broker,
                            const std::function<bool(BrokerId)>& alive,
                            const ElectionConfig& config) {
  auto alive_but = [&](BrokerId id) { return id != broker && alive(id); };
  if (broker == state.leader) return elect_leader(state, alive_but, config, /*force=*/true);
  if (!contains(state.isr, broker)) return {state, ElectionKind::unchanged};
  PartitionState next = state;
  std::erase(next.isr, broker);
  keep_last_isr_member(state, next, config);
  update_elr(state.isr, next, config);
  next.partition_epoch = PartitionEpoch(state.partition_epoch.value() + 1);
  return {std::move(next), ElectionKind::unchanged};
}

std::string describe(const PartitionState& state) {
  std::string out =
      fmt::format("leader={} epoch={}/{} isr=({})", state.leader.value(),
                  state.leader_epoch.value(), state.partition_epoch.value(), join(state.isr));
  if (!state.elr.empty()) out += fmt::format(" elr=({})", join(state.elr));
  if (!state.last_known_elr.empty())
    out += fmt::format(" last_known=({})", join(state.last_known_elr));
  return out;
}

}  // namespace samsa
