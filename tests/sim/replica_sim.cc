// samsa-sim replica: one partition, 3-5 replicas (one leader, 2-4 followers) on FaultyEnv
// disks, a simulated network that drops, delays, reorders, duplicates and partitions, power
// cuts and restarts, a test controller that fences dead brokers and elects as
// partition_election.h says, and producers with acks=1 and acks=all.
//
// Invariants after every step (besides the ReplicaSets' own, asserted inside):
//   committed: every replica's log below its high watermark equals the committed history
//     (the first leader's records seen below a HW), so committed prefixes are identical,
//     a reader of committed data never sees a record later truncated, and no replica
//     truncates below what was verified committed;
//   acked: every acks=all append acknowledged without error is in the committed history
//     with its values (none lost by a clean election);
//   hw: the leader's high watermark never decreases within its epoch, and is never above
//     the log end of a live member of its ISR.
// The data invariants hold until an unclean election (only seeds that enable it), after
// which loss is allowed and counted. At the end the faults stop and every replica must
// converge on the leader's log.
#include <fmt/format.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "replica_cluster.h"
#include "sim.h"
#include "sim_network.h"

namespace samsa::sim {
namespace {

using test::ClusterNode;
using test::ClusterOptions;
using test::ReplicaCluster;

std::uint64_t g_current_seed = 0;

void on_abort(int) {
  char line[160];
  const int n =
      std::snprintf(line, sizeof line,
                    "FAIL seed %llu (assertion): replay with: samsa-sim replica --seed %llu "
                    "--trace\n",
                    static_cast<unsigned long long>(g_current_seed),
                    static_cast<unsigned long long>(g_current_seed));
  if (n > 0) (void)!write(1, line, static_cast<std::size_t>(n));
  std::_Exit(1);
}

class ReplicaSim {
 public:
  ReplicaSim(std::uint64_t seed, const SimOptions& options)
      : seed_(seed),
        trace_(options.trace),
        rng_(seed),
        net_(network_config(seed), seed ^ 0x9e3779b97f4a7c15ULL) {
    steps_ = options.steps > 0 ? options.steps : 300;
    const int n = 3 + static_cast<int>(pick(0, 2));
    ClusterOptions o;
    for (int i = 1; i <= n; ++i) o.replicas.push_back(BrokerId(i));
    o.seed = seed;
    o.replica.min_insync_replicas = static_cast<int>(pick(1, 2));
    o.replica.replica_lag_time_max_ms = pick(60, 300);
    o.replica.request_timeout_ms = 500;
    o.replica.fetch_timeout_ms = 50;
    o.replica.fetch_backoff_ms = 5;
    o.replica.fetch_max_wait_ms = static_cast<std::int32_t>(pick(0, 20));
    o.replica.fetch_max_bytes = static_cast<std::int32_t>(pick(100, 4000));
    o.replica.truncate_on_fetch = pick(0, 3) != 0;
    o.election.min_insync_replicas = o.replica.min_insync_replicas;
    o.election.unclean_leader_election_enable = pick(0, 9) == 0;
    min_isr_ = o.replica.min_insync_replicas;
    cluster_ = std::make_unique<ReplicaCluster>(o, [this](Envelope e) {
      net_.send(e.from.value(), e.to.value(), std::move(e), cluster_->now());
    });
    log(fmt::format(
        "seed {}: {} replicas min_isr={} lag={} truncate_on_fetch={} unclean={} net: {}", seed, n,
        min_isr_, o.replica.replica_lag_time_max_ms, o.replica.truncate_on_fetch,
        o.election.unclean_leader_election_enable, describe(net_.config())));
  }

  bool run() {
    cluster_->elect();
    for (int step = 0; step < steps_ && ok_; ++step) {
      step_once(step, /*faults=*/true);
      check(step);
    }
    // Quiet: no more faults; everything restarts and heals, and the replicas converge.
    net_.heal();
    for (auto& [id, n] : cluster_->nodes()) {
      if (!n->up) restart(id);
    }
    constexpr int kQuietSteps = 3000;  // converging ends it early
    for (int step = 0; step < kQuietSteps && ok_; ++step) {
      step_once(steps_ + step, /*faults=*/false);
      check(steps_ + step);
      if (converged()) break;
    }
    if (ok_ && !converged()) {
      fail("replicas did not converge after the faults stopped");
      dump();
    }
    log(fmt::format("end: committed={} acked={} unclean={} truncated_below_hw={}", history_.size(),
                    acked_checked_, unclean_, lost_records()));
    return ok_;
  }

 private:
  static NetworkConfig network_config(std::uint64_t seed) {
    std::mt19937_64 r(seed * 7 + 3);
    NetworkConfig c;
    c.drop_probability = std::uniform_real_distribution<double>(0, 0.1)(r);
    c.duplicate_probability = std::uniform_real_distribution<double>(0, 0.05)(r);
    c.delay_min_ms = 0;
    c.delay_max_ms = std::uniform_int_distribution<std::int64_t>(1, 15)(r);
    return c;
  }
  std::int64_t pick(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance(int per_mille) { return pick(0, 999) < per_mille; }
  void log(const std::string& s) {
    if (trace_) fmt::print("[{:>7}] {}\n", cluster_ ? cluster_->now() : 0, s);
  }
  void fail(const std::string& why) {
    if (ok_) fmt::print("seed {}: VIOLATION at {} ms: {}\n", seed_, cluster_->now(), why);
    ok_ = false;
  }

  std::vector<BrokerId> ids() const {
    std::vector<BrokerId> out;
    for (const auto& [id, n] : cluster_->nodes()) out.push_back(id);
    return out;
  }

  void step_once(int step, bool faults) {
    cluster_->set_now(cluster_->now() + pick(1, 5));
    // Deliver what is due.
    constexpr int kDeliveriesMax = 10'000;
    for (int i = 0; i < kDeliveriesMax; ++i) {
      auto d = net_.next(cluster_->now());
      if (!d) break;
      if (trace_messages_) trace_message(d->payload);
      cluster_->deliver(d->payload);
    }
    if (!faults || chance(700)) cluster_->handle_alters();
    cluster_->tick_all();
    if (faults && chance(300)) produce(step);
    if (faults) inject_fault();
    controller();
    if (chance(20)) {
      const BrokerId id = ids()[pick(0, ids().size() - 1)];
      if (cluster_->alive(id)) (void)cluster_->node(id).partition->maintain();
    }
    for (auto& e : cluster_->events()) {
      if (e.rfind("election unclean", 0) == 0) unclean_ = true;
      log(e);
    }
    cluster_->events().clear();
  }

  void produce(int step) {
    const auto& s = cluster_->state();
    if (s.leader == BrokerId::none() || !cluster_->alive(s.leader)) return;
    const Acks acks = chance(600) ? Acks::all : Acks::leader;
    const std::size_t before = cluster_->acked().size();
    const std::string tag = fmt::format("s{}", step);
    const int count = static_cast<int>(pick(1, 4));
    auto r = cluster_->produce(s.leader, count, acks, tag);
    if (!r.ok()) return;
    if (acks == Acks::all && r->produce_id != 0) {
      pending_tags_[{s.leader, r->produce_id}] = {tag, count};
    }
    (void)before;
  }

  void inject_fault() {
    const auto all = ids();
    const BrokerId id = all[pick(0, all.size() - 1)];
    if (chance(8) && cluster_->alive(id)) {
      const auto mode = static_cast<PowerCutMode>(pick(0, 2));
      log(fmt::format("crash {} (power cut mode {})", id.value(), static_cast<int>(mode)));
      cluster_->crash(id, mode);
      // Its pending produce requests die with it (their ids will be reused).
      std::erase_if(pending_tags_, [&](const auto& e) { return e.first.first == id; });
      net_.drop_node(id.value());
      crashed_at_[id] = cluster_->now();
      fence_after_[id] = pick(10, 80);
    } else if (chance(15) && !cluster_->alive(id) && cluster_->now() - crashed_at_[id] > 30) {
      restart(id);
    } else if (chance(6)) {
      std::vector<std::int32_t> others;
      for (BrokerId o : all) others.push_back(o.value());
      if (chance(500)) {
        log(fmt::format("isolate {}", id.value()));
        net_.isolate(id.value(), others);
      } else {
        const BrokerId to = all[pick(0, all.size() - 1)];
        log(fmt::format("block {} -> {}", id.value(), to.value()));
        net_.block(id.value(), to.value());
      }
    } else if (chance(20) && net_.any_blocked()) {
      log("heal");
      net_.heal();
    } else if (chance(5)) {
      cluster_->elect_preferred();
    }
  }

  void restart(BrokerId id) {
    log(fmt::format("restart {}", id.value()));
    fence_after_.erase(id);
    cluster_->restart(id);
  }

  // The controller: fences brokers whose session expired; elects when there is no leader.
  void controller() {
    for (auto it = fence_after_.begin(); it != fence_after_.end();) {
      if (cluster_->now() - crashed_at_[it->first] < it->second) {
        ++it;
        continue;
      }
      cluster_->fence(it->first);
      it = fence_after_.erase(it);
    }
    const auto& s = cluster_->state();
    if (s.leader == BrokerId::none() || !cluster_->alive(s.leader)) cluster_->elect();
  }

  std::int64_t lost_records() const {
    std::int64_t n = 0;
    for (const auto& [id, node] : cluster_->nodes()) {
      if (node->up) n += node->driver->replica().stats().records_truncated_below_hw;
    }
    return n;
  }

  void check(int step) {
    check_committed();
    check_acked();
    check_hw();
    (void)step;
  }

  void check_committed() {
    for (auto& [id, n] : cluster_->nodes()) {
      if (!n->up) continue;
      Offset& verified = verified_[id];
      const Offset end = n->partition->log_end_offset();
      if (end < verified && !unclean_) {
        fail(fmt::format("replica {} lost committed records: log end {} < verified {}", id.value(),
                         end.value(), verified.value()));
        return;
      }
      if (unclean_) verified = std::min(verified, end);
      const Offset hw = n->partition->high_watermark();
      if (hw <= verified) continue;
      const auto values = cluster_->values(id, verified, hw);
      for (const auto& v : values) {
        const auto colon = v.find(':');
        const std::int64_t off = std::stoll(v.substr(0, colon));
        const std::string value = v.substr(colon + 1);
        if (off < static_cast<std::int64_t>(history_.size())) {
          if (history_[off] != value && !unclean_) {
            fail(fmt::format("replica {} committed offset {} = {}, history has {}", id.value(), off,
                             value, history_[off]));
            return;
          }
        } else if (off == static_cast<std::int64_t>(history_.size())) {
          history_.push_back(value);
        }
      }
      verified = hw;
    }
  }

  void check_acked() {
    auto& acked = cluster_->acked();
    for (; acked_seen_ < acked.size(); ++acked_seen_) {
      const auto& a = acked[acked_seen_];
      auto it = pending_tags_.find({a.leader, a.completion.produce_id});
      if (it == pending_tags_.end()) continue;  // acks=1
      if (a.completion.error_code == KafkaError::none) {
        waiting_.push_back({a.completion, it->second.first});
      }
      pending_tags_.erase(it);
    }
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      const Offset last = it->c.last_offset;
      if (last.value() >= static_cast<std::int64_t>(history_.size())) {
        ++it;  // the leader's HW passed it, but no replica's log was checked that far yet
        continue;
      }
      for (Offset o = it->c.base_offset; o <= last; ++o) {
        const std::string want = fmt::format("{}-{}", it->tag, o - it->c.base_offset);
        if (history_[o.value()] != want && !unclean_) {
          fail(fmt::format("acked record at {} is {} in the committed history, not {}", o.value(),
                           history_[o.value()], want));
          return;
        }
      }
      ++acked_checked_;
      it = waiting_.erase(it);
    }
  }

  void check_hw() {
    const auto& s = cluster_->state();
    for (auto& [id, n] : cluster_->nodes()) {
      if (!n->up) continue;
      const ReplicaSet& r = n->driver->replica();
      if (r.role() != ReplicaRole::leader) continue;
      auto key = std::make_pair(id, r.leader_epoch());
      auto [it, fresh] = leader_hw_.emplace(key, r.high_watermark());
      if (!fresh && r.high_watermark() < it->second) {
        fail(fmt::format("leader {} epoch {}: HW went back from {} to {}", id.value(),
                         r.leader_epoch().value(), it->second.value(), r.high_watermark().value()));
      }
      it->second = r.high_watermark();
      if (unclean_ || r.leader_epoch() != s.leader_epoch) continue;
      for (BrokerId m : r.isr()) {
        if (!cluster_->alive(m)) continue;
        const Offset end = cluster_->node(m).partition->log_end_offset();
        if (r.high_watermark() > end) {
          fail(fmt::format("leader {} HW {} above ISR member {}'s log end {}", id.value(),
                           r.high_watermark().value(), m.value(), end.value()));
        }
      }
    }
  }

  void trace_message(const Envelope& e) {
    std::string what = fmt::format("#{}", e.message.index());
    if (const auto* f = std::get_if<FetchRequest>(&e.message)) {
      what = fmt::format("Fetch offset={} last_epoch={} epoch={}", f->fetch_offset.value(),
                         f->last_fetched_epoch.value(), f->current_leader_epoch.value());
    } else if (const auto* r = std::get_if<FetchResponse>(&e.message)) {
      what =
          fmt::format("FetchResponse {} for={} hw={} bytes={} diverging={}",
                      to_string(r->error_code), r->fetch_offset.value(), r->high_watermark.value(),
                      r->records.size(), r->diverging_epoch.has_value());
    }
    log(fmt::format("deliver {}->{} corr={} {}", e.from.value(), e.to.value(), e.correlation_id,
                    what));
  }

  void dump() {
    log("controller: " + describe(cluster_->state()));
    for (auto& [id, n] : cluster_->nodes()) {
      if (!n->up) {
        log(fmt::format("r{} down", id.value()));
        continue;
      }
      const ReplicaSet& r = n->driver->replica();
      const auto& st = r.stats();
      log(fmt::format(
          "r{} role={} leader={} epoch={} leo={} hw={}/{} isr=({}) fetch_errors={} "
          "rejected={} truncations={}",
          id.value(), static_cast<int>(r.role()), r.leader().value(), r.leader_epoch().value(),
          n->partition->log_end_offset().value(), n->partition->high_watermark().value(),
          r.high_watermark().value(), ReplicaCluster::ids(r.isr()), st.fetch_errors,
          st.batches_rejected, st.truncations));
      log("   " + r.debug_state());
    }
  }

  bool converged() {
    const auto& s = cluster_->state();
    if (s.leader == BrokerId::none() || !cluster_->alive(s.leader)) return false;
    ClusterNode& leader = cluster_->node(s.leader);
    const Offset end = leader.partition->log_end_offset();
    if (leader.driver->replica().high_watermark() != end) return false;
    for (auto& [id, n] : cluster_->nodes()) {
      if (!n->up || n->partition->log_end_offset() != end) return false;
      if (n->partition->epoch_entries() != leader.partition->epoch_entries()) return false;
    }
    return true;
  }

  struct Waiting {
    ProduceCompletion c;
    std::string tag;
  };

  std::uint64_t seed_;
  bool trace_;
  bool trace_messages_ = std::getenv("SAMSA_SIM_TRACE_MESSAGES") != nullptr;
  std::mt19937_64 rng_;
  SimNetwork<Envelope> net_;
  std::unique_ptr<ReplicaCluster> cluster_;
  int steps_ = 300;
  int min_isr_ = 1;
  bool ok_ = true;
  bool unclean_ = false;
  std::map<BrokerId, std::int64_t> crashed_at_;
  std::map<BrokerId, std::int64_t> fence_after_;
  std::vector<std::string> history_;
  std::map<BrokerId, Offset> verified_;
  // (leader, produce id) -> (tag, records); a leader's ids restart when it does.
  std::map<std::pair<BrokerId, std::uint64_t>, std::pair<std::string, int>> pending_tags_;
  std::vector<Waiting> waiting_;
  std::size_t acked_seen_ = 0;
  std::size_t acked_checked_ = 0;
  std::map<std::pair<BrokerId, LeaderEpoch>, Offset> leader_hw_;
};

}  // namespace

bool run_replica_seed(std::uint64_t seed, const SimOptions& options) {
  g_current_seed = seed;
  std::signal(SIGABRT, on_abort);
  ReplicaSim sim(seed, options);
  return sim.run();
}

}  // namespace samsa::sim
