// ReplicaSet scenarios as data-driven scripts (tests/testdata/replica/*.txt): replicas are
// Partitions on FaultyEnv disks driven by ReplicaDrivers, messages wait in a FIFO the
// script delivers, and a test controller elects (elect_leader) and answers AlterPartition.
//
// Commands:
//   cluster replicas=(1,2,3) [min_isr=N] [lag=MS] [timeout=MS] [unclean] [no_elr]
//           [truncate_on_fetch=0] [hw_min_isr=0]
//   elect [force] | elect preferred        the controller elects (dead replicas excluded)
//   produce node=N [records=K] [acks=all|1|0] [tag=T]
//   deliver [n=K]                          the first K queued messages (all by default)
//   stabilize                              deliver and answer AlterPartition until quiet
//   tick ms=MS                             time passes; every live replica ticks
//   isolate node=N | heal node=N           drop what N sends and receives
//   crash node=N | restart node=N          power cut (unsynced data lost) / reopen
//   delete_records node=N before=OFFSET     DeleteRecords on that replica's Partition
//   checkpoint node=N                      the periodic HW checkpoint (Partition::maintain)
//   fence node=N                           the controller fences a broker (out of the ISR)
//   status | log node=N | acks | stats node=N | queue
#include <catch2/catch.hpp>

#include <deque>
#include <set>

#include "datadriven.h"
#include "replica_cluster.h"

using namespace samsa;
using namespace samsa::test;

namespace {

std::string acks_name(Acks a) {
  return a == Acks::all ? "all" : a == Acks::leader ? "1" : "0";
}

std::string describe_message(const Envelope& e) {
  return std::visit(
      [&](const auto& m) -> std::string {
        using M = std::decay_t<decltype(m)>;
        const std::string head = fmt::format("{}->{}", e.from.value(), e.to.value());
        if constexpr (std::is_same_v<M, FetchRequest>) {
          return fmt::format("{} Fetch offset={} last_epoch={} epoch={}", head,
                             m.fetch_offset.value(), m.last_fetched_epoch.value(),
                             m.current_leader_epoch.value());
        } else if constexpr (std::is_same_v<M, FetchResponse>) {
          std::string s =
              fmt::format("{} FetchResponse {} hw={} bytes={}", head, to_string(m.error_code),
                          m.high_watermark.value(), m.records.size());
          if (m.diverging_epoch) {
            s += fmt::format(" diverging=(epoch={}, end={})", m.diverging_epoch->epoch.value(),
                             m.diverging_epoch->end_offset.value());
          }
          return s;
        } else if constexpr (std::is_same_v<M, OffsetForLeaderEpochRequest>) {
          return fmt::format("{} OffsetForLeaderEpoch epoch={}", head, m.leader_epoch.value());
        } else {
          return fmt::format("{} OffsetForLeaderEpochResponse {} epoch={} end={}", head,
                             to_string(m.error_code), m.leader_epoch.value(), m.end_offset.value());
        }
      },
      e.message);
}

class Script {
 public:
  std::string run(const DataCommand& cmd) {
    if (cmd.name == "cluster") return make(cmd);
    if (!cluster_) throw DataError{"no cluster yet"};
    if (cmd.name == "elect") return elect(cmd);
    if (cmd.name == "produce") return produce(cmd);
    if (cmd.name == "deliver") return deliver(static_cast<int>(cmd.num("n", 1'000'000)), false);
    if (cmd.name == "stabilize") return stabilize();
    if (cmd.name == "tick") {
      cluster_->set_now(cluster_->now() + cmd.num("ms"));
      cluster_->tick_all();
      return take_events();
    }
    if (cmd.name == "isolate") {
      isolated_.insert(BrokerId(static_cast<std::int32_t>(cmd.num("node"))));
      return "ok\n";
    }
    if (cmd.name == "heal") {
      isolated_.erase(BrokerId(static_cast<std::int32_t>(cmd.num("node"))));
      return "ok\n";
    }
    if (cmd.name == "delete_records") {  // Kafka's DeleteRecords on one replica's Partition
      Status st =
          cluster_->node(node_of(cmd)).partition->delete_records_before(Offset(cmd.num("before")));
      return st.ok() ? "ok\n" : "error: " + st.to_string() + "\n";
    }
    if (cmd.name == "checkpoint") {  // the periodic HW checkpoint (Partition::maintain)
      auto r = cluster_->node(node_of(cmd)).partition->maintain();
      return r.ok() ? "ok\n" : "error: " + r.status().to_string() + "\n";
    }
    if (cmd.name == "fence") {
      cluster_->fence(node_of(cmd));
      return take_events();
    }
    if (cmd.name == "crash") {
      cluster_->crash(node_of(cmd));
      return "ok\n";
    }
    if (cmd.name == "restart") {
      cluster_->restart(node_of(cmd));
      return take_events() + "ok\n";
    }
    if (cmd.name == "status") return status();
    if (cmd.name == "log") return log(cmd);
    if (cmd.name == "acks") return acks();
    if (cmd.name == "stats") return stats(cmd);
    if (cmd.name == "inject") return inject(cmd);
    if (cmd.name == "corrupt") return corrupt();
    if (cmd.name == "queue") {
      std::string out;
      for (const auto& e : queue_) out += describe_message(e) + "\n";
      return out.empty() ? "empty\n" : out;
    }
    throw DataError{"unknown command " + cmd.name};
  }

 private:
  static BrokerId node_of(const DataCommand& cmd) {
    return BrokerId(static_cast<std::int32_t>(cmd.num("node")));
  }

  std::string make(const DataCommand& cmd) {
    ClusterOptions o;
    for (const auto& v : cmd.list("replicas")) o.replicas.push_back(BrokerId(std::stoi(v)));
    o.replica.min_insync_replicas = static_cast<int>(cmd.num("min_isr", 1));
    o.replica.replica_lag_time_max_ms = cmd.num("lag", 100);
    o.replica.request_timeout_ms = cmd.num("timeout", 1000);
    o.replica.truncate_on_fetch = cmd.num("truncate_on_fetch", 1) != 0;
    o.replica.hw_requires_min_isr = cmd.num("hw_min_isr", 1) != 0;
    o.replica.fetch_max_wait_ms = 0;  // scripts deliver by hand: no long polls
    o.election.min_insync_replicas = o.replica.min_insync_replicas;
    o.election.unclean_leader_election_enable = cmd.has("unclean");
    o.election.eligible_leader_replicas_enable = !cmd.has("no_elr");
    shown_acks_ = 0;
    queue_.clear();
    isolated_.clear();
    cluster_ =
        std::make_unique<ReplicaCluster>(o, [this](Envelope e) { queue_.push_back(std::move(e)); });
    return "ok\n";
  }

  std::string elect(const DataCommand& cmd) {
    if (cmd.has("preferred"))
      cluster_->elect_preferred();
    else
      cluster_->elect(cmd.has("force"));
    std::string out = take_events();
    return out.empty() ? "unchanged: " + describe(cluster_->state()) + "\n" : out;
  }

  std::string produce(const DataCommand& cmd) {
    const std::string a = cmd.str("acks", "1");
    const Acks acks = a == "all" || a == "-1" ? Acks::all : a == "0" ? Acks::none : Acks::leader;
    const std::size_t before = cluster_->acked().size();
    auto r = cluster_->produce(node_of(cmd), static_cast<int>(cmd.num("records", 1)), acks,
                               cmd.str("tag", "v"));
    if (!r.ok()) return "error: " + r.status().to_string() + "\n";
    if (cluster_->acked().size() > before) {
      shown_acks_ = std::max(shown_acks_, before + 1);
      const auto& c = cluster_->acked()[before].completion;
      if (c.error_code != KafkaError::none) return fmt::format("{}\n", to_string(c.error_code));
      return fmt::format("acks={} offsets [{}, {}]\n", acks_name(acks), c.base_offset.value(),
                         c.last_offset.value());
    }
    return fmt::format("acks=all pending id={}\n", r->produce_id);
  }

  std::string deliver(int n, bool quiet) {
    std::string out;
    for (int i = 0; i < n && !queue_.empty(); ++i) {
      Envelope e = std::move(queue_.front());
      queue_.pop_front();
      const bool dropped =
          isolated_.count(e.from) || isolated_.count(e.to) || !cluster_->alive(e.to);
      if (!quiet) out += (dropped ? "dropped " : "") + describe_message(e) + "\n";
      if (!dropped) cluster_->deliver(e);
    }
    return out;
  }

  std::string stabilize() {
    constexpr int kRoundsMax = 1000;
    for (int round = 0; round < kRoundsMax; ++round) {
      if (queue_.empty() && cluster_->pending_alters() == 0) break;
      // Followers fetch again at once: stop when only empty fetches circulate.
      if (cluster_->pending_alters() == 0 && only_idle_fetches()) break;
      deliver(static_cast<int>(queue_.size()), true);
      cluster_->handle_alters();
    }
    return take_events() + status();
  }

  // Every queued message is a fetch at the leader's log end (nothing to move).
  bool only_idle_fetches() {
    const PartitionState& s = cluster_->state();
    if (s.leader == BrokerId::none() || !cluster_->alive(s.leader)) return true;
    ClusterNode& leader = cluster_->node(s.leader);
    if (leader.driver->replica().role() != ReplicaRole::leader) return false;
    const Offset end = leader.partition->log_end_offset();
    const Offset hw = leader.driver->replica().high_watermark();
    for (const auto& e : queue_) {
      const auto* f = std::get_if<FetchRequest>(&e.message);
      if (isolated_.count(e.from) || isolated_.count(e.to) || !cluster_->alive(e.to)) continue;
      if (!f || f->fetch_offset != end || !cluster_->alive(e.from)) return false;
      if (leader.driver->replica().follower_log_end(e.from) != end) return false;
      if (cluster_->node(e.from).driver->replica().high_watermark() != hw) return false;
    }
    return true;
  }

  std::string status() {
    std::string out = "controller: " + describe(cluster_->state()) + "\n";
    for (const auto& [id, n] : cluster_->nodes()) {
      if (!n->up) {
        out += fmt::format("r{}: down\n", id.value());
        continue;
      }
      const ReplicaSet& r = n->driver->replica();
      std::string epochs;
      for (const auto& e : n->partition->epoch_entries()) {
        epochs += fmt::format("{}{}@{}", epochs.empty() ? "" : ",", e.epoch.value(),
                              e.start_offset.value());
      }
      const char* role = r.role() == ReplicaRole::leader     ? "leader"
                         : r.role() == ReplicaRole::follower ? "follower"
                                                             : "none";
      out += fmt::format("r{}: {} epoch={} start={} leo={} hw={} epochs=({})", id.value(), role,
                         r.leader_epoch().value(), n->partition->log_start_offset().value(),
                         n->partition->log_end_offset().value(),
                         n->partition->high_watermark().value(), epochs);
      if (r.role() == ReplicaRole::leader) {
        out += fmt::format(" isr=({})", ReplicaCluster::ids(r.isr()));
        if (r.alter_in_flight()) out += " alter-in-flight";
      }
      out += "\n";
    }
    return out;
  }

  std::string log(const DataCommand& cmd) {
    std::string out;
    for (const auto& v : cluster_->values(node_of(cmd), Offset(0))) out += v + " ";
    return out.empty() ? "empty\n" : out + "\n";
  }

  std::string acks() {
    std::string out;
    auto& all = cluster_->acked();
    for (; shown_acks_ < all.size(); ++shown_acks_) {
      const auto& c = all[shown_acks_].completion;
      out += fmt::format("id={} {} [{}, {}]\n", c.produce_id, to_string(c.error_code),
                         c.base_offset.value(), c.last_offset.value());
    }
    return out.empty() ? "none\n" : out;
  }

  std::string stats(const DataCommand& cmd) {
    const ReplicaSetStats& s = cluster_->node(node_of(cmd)).driver->replica().stats();
    return fmt::format(
        "truncations={} truncated_below_hw={} rejected={} isr_shrinks={} isr_expansions={}\n",
        s.truncations, s.records_truncated_below_hw, s.batches_rejected, s.isr_shrinks,
        s.isr_expansions);
  }

  // A hand-made Fetch (or OffsetForLeaderEpoch with `epoch_request`) from `from` to `to`;
  // prints and takes the answers addressed to `from`.
  std::string inject(const DataCommand& cmd) {
    const BrokerId from(static_cast<std::int32_t>(cmd.num("from")));
    const BrokerId to(static_cast<std::int32_t>(cmd.num("to")));
    const LeaderEpoch epoch(static_cast<std::int32_t>(cmd.num("epoch")));
    Envelope e{from, to, 777, FetchRequest{}};
    if (cmd.has("epoch_request")) {
      e.message = OffsetForLeaderEpochRequest{
          from, epoch, LeaderEpoch(static_cast<std::int32_t>(cmd.num("asked")))};
    } else {
      FetchRequest f;
      f.replica_id = from;
      f.current_leader_epoch = epoch;
      f.fetch_offset = Offset(cmd.num("offset", 0));
      f.last_fetched_epoch = LeaderEpoch(static_cast<std::int32_t>(cmd.num("last_epoch", -1)));
      f.partition_max_bytes = static_cast<std::int32_t>(cmd.num("max_bytes", 1 << 20));
      e.message = f;
    }
    cluster_->deliver(e);
    std::string out;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->to != from || it->correlation_id != 777) {
        ++it;
        continue;
      }
      out += describe_message(*it) + "\n";
      it = queue_.erase(it);
    }
    return out.empty() ? "no answer\n" : out;
  }

  // Flips a byte inside the records of the first queued FetchResponse that has any.
  std::string corrupt() {
    for (auto& e : queue_) {
      auto* r = std::get_if<FetchResponse>(&e.message);
      if (!r || r->records.size() < 70) continue;
      r->records[65] ^= std::byte{0x5a};
      return "corrupted " + describe_message(e) + "\n";
    }
    return "nothing to corrupt\n";
  }

  std::string take_events() {
    std::string out;
    for (const auto& e : cluster_->events()) out += e + "\n";
    cluster_->events().clear();
    return out;
  }

  std::unique_ptr<ReplicaCluster> cluster_;
  std::deque<Envelope> queue_;
  std::set<BrokerId> isolated_;
  std::size_t shown_acks_ = 0;
};

}  // namespace

TEST_CASE("ReplicaSet scenarios (tests/testdata/replica/*.txt)", "[replica][datadriven]") {
  run_data_dir("replica", [] {
    auto script = std::make_shared<Script>();
    return [script](const DataCommand& cmd) { return script->run(cmd); };
  });
}
