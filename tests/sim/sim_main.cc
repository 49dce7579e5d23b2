// samsa-sim: deterministic simulations of samsa's replication and Raft.
//
//   samsa-sim <subcommand> --seed-start S --seeds N [--steps K]   many seeds
//   samsa-sim <subcommand> --seed S [--trace] [--steps K]         one seed, replayable
//
// Prints a line per failing seed with the command that replays it, then a closing count
// line; exits non-zero when any seed failed.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim.h"

namespace {

using samsa::sim::SimOptions;

struct Subcommand {
  const char* name;
  bool (*run_seed)(std::uint64_t seed, const SimOptions& options);
  const char* about;
  void (*report)() = nullptr;  // prints what the seeds measured, after the closing line
};

// Add a simulation with one line here.
constexpr Subcommand kSubcommands[] = {
    {"replica", samsa::sim::run_replica_seed,
     "ISR replication of one partition: 1 leader, 2-4 followers, faults, a test controller"},
    {"raft", samsa::sim::run_raft_seed,
     "a KRaft quorum: 3 or 5 voters, 0-2 observers, faults, power cuts, resigns, proposals"},
    {"raft-failover", samsa::sim::run_raft_failover_seed,
     "a KRaft quorum under load whose leader loses power once: time to the next commit",
     samsa::sim::report_raft_failover},
};

int usage() {
  fmt::print(stderr,
             "usage: samsa-sim <subcommand> (--seed-start S --seeds N | --seed S [--trace]) "
             "[--steps K]\n");
  for (const auto& s : kSubcommands) fmt::print(stderr, "  {:<14} {}\n", s.name, s.about);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const Subcommand* sub = nullptr;
  for (const auto& s : kSubcommands) {
    if (std::strcmp(argv[1], s.name) == 0) sub = &s;
  }
  if (!sub) return usage();
  SimOptions options;
  bool single = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) std::exit(usage());
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--seed-start")
      options.seed_start = value();
    else if (a == "--seeds")
      options.seeds = value();
    else if (a == "--seed") {
      options.seed_start = value();
      options.seeds = 1;
      single = true;
    } else if (a == "--trace")
      options.trace = true;
    else if (a == "--steps")
      options.steps = static_cast<int>(value());
    else
      return usage();
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  for (std::uint64_t k = 0; k < options.seeds; ++k) {
    const std::uint64_t seed = options.seed_start + k;
    if (!sub->run_seed(seed, options)) {
      ++failed;
      fmt::print("FAIL seed {}: replay with: samsa-sim {} --seed {} --trace{}\n", seed, sub->name,
                 seed, options.steps ? fmt::format(" --steps {}", options.steps) : "");
      std::fflush(stdout);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}: {} seeds from {}, {} failed, {:.1f} s\n", sub->name, options.seeds,
             options.seed_start, failed, secs);
  if (sub->report) sub->report();
  (void)single;
  return failed == 0 ? 0 : 1;
}
