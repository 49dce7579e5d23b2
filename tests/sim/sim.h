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
// raft-failover: no faults but one leader power cut; report_raft_failover() prints the
// median and p99 time from the crash to the next commit over the seeds run.
bool run_raft_failover_seed(std::uint64_t seed, const SimOptions& options);
void report_raft_failover();

}  // namespace samsa::sim
