// samsa-sim's subcommands: each runs seeded simulations of one floor's state machines.
#pragma once

#include <cstdint>
#include <string>

namespace samsa::sim {

struct SimOptions {
  std::uint64_t seed_start = 1;
  std::uint64_t seeds = 1;
  bool trace = false;
  int steps = 0;  // 0: the simulation's default
};

// One seed: true when every invariant held. Violations and (with trace) events go to stdout.
bool run_replica_seed(std::uint64_t seed, const SimOptions& options);
bool run_raft_seed(std::uint64_t seed, const SimOptions& options);

}  // namespace samsa::sim
