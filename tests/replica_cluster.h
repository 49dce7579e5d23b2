// A replicated partition for tests and the simulator: N replicas, each a Partition on its
// own FaultyEnv disk driven by a ReplicaDriver, and a test controller that keeps the
// PartitionState, elects with elect_leader() and answers AlterPartition with alter_isr().
// Messages go to a `transport` the user supplies (a FIFO in the scripts, the simulated
// network in samsa-sim); nothing here decides when they arrive.
//
// Thread-safety: none; one thread drives it.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/partition.h"
#include "samsa/partition_election.h"
#include "samsa/record_batch.h"
#include "samsa/replica_driver.h"

namespace samsa::test {

struct ClusterOptions {
  std::vector<BrokerId> replicas;
  ReplicaSetConfig replica;  // self is set per node
  ElectionConfig election;
  std::uint64_t seed = 1;
};

struct ClusterNode {
  BrokerId id;
  std::unique_ptr<FaultyEnv> env;
  ManualClock clock{Timestamp(1'700'000'000'000)};
  std::unique_ptr<Partition> partition;
  std::unique_ptr<ReplicaDriver> driver;
  bool up = false;
};

struct Acked {
  ProduceCompletion completion;
  BrokerId leader;
  LeaderEpoch epoch;
  std::size_t isr_size = 0;  // the leader's ISR when it was acknowledged
};

class ReplicaCluster {
 public:
  static constexpr std::int64_t kBaseTimestampMs = 1'700'000'000'000;  // records' time base
  using Transport = std::function<void(Envelope)>;

  ReplicaCluster(ClusterOptions options, Transport transport)
      : options_(std::move(options)), transport_(std::move(transport)) {
    state_.replicas = options_.replicas;
    for (BrokerId id : options_.replicas) {
      auto node = std::make_unique<ClusterNode>();
      node->id = id;
      node->env = std::make_unique<FaultyEnv>(options_.seed * 31 + id.value());
      nodes_[id] = std::move(node);
      open(id);
    }
    state_.isr = options_.replicas;
    state_.leader = BrokerId::none();
    state_.leader_epoch = LeaderEpoch(-1);
  }

  ClusterNode& node(BrokerId id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) throw std::runtime_error(fmt::format("no replica {}", id.value()));
    return *it->second;
  }
  const std::map<BrokerId, std::unique_ptr<ClusterNode>>& nodes() const { return nodes_; }
  const PartitionState& state() const { return state_; }
  std::int64_t now() const { return now_ms_; }
  void set_now(std::int64_t now_ms) { now_ms_ = now_ms; }
  bool alive(BrokerId id) const { return nodes_.at(id)->up; }
  std::vector<Acked>& acked() { return acked_; }
  std::vector<std::string>& events() { return events_; }

  // --- the controller
  ElectionResult elect(bool force = false) {
    auto result = elect_leader(
        state_, [this](BrokerId id) { return alive(id); }, options_.election, force);
    apply(result);
    return result;
  }
  ElectionResult fence(BrokerId id) {
    auto result = fence_broker(
        state_, id, [this](BrokerId b) { return alive(b); }, options_.election);
    events_.push_back(fmt::format("fenced {}: {}", id.value(), describe(result.next)));
    apply(result);
    return result;
  }
  ElectionResult elect_preferred() {
    auto result = elect_preferred_leader(state_, [this](BrokerId id) { return alive(id); });
    apply(result);
    return result;
  }
  // Tells every live replica the current leadership (LeaderAndIsr / metadata update).
  void announce() {
    for (auto& [id, n] : nodes_) {
      if (n->up) announce_to(id);
    }
  }
  // Answers queued AlterPartition requests; returns how many.
  int handle_alters() {
    int handled = 0;
    constexpr int kAltersMax = 64;
    while (!alters_.empty() && handled < kAltersMax) {
      AlterPartitionRequest req = alters_.front();
      alters_.pop_front();
      ++handled;
      auto r = alter_isr(
          state_, req.broker_id, req.leader_epoch, req.partition_epoch, req.new_isr,
          [this](BrokerId id) { return alive(id); }, options_.election);
      AlterPartitionResponse resp{r.error, r.next.leader, r.next.leader_epoch, r.next.isr,
                                  r.next.partition_epoch};
      if (r.error == KafkaError::none) state_ = r.next;
      events_.push_back(fmt::format("alter-partition from {}: isr=({}) -> {}",
                                    req.broker_id.value(), ids(req.new_isr), to_string(r.error)));
      if (!alive(req.broker_id)) continue;
      node(req.broker_id).driver->replica().step_alter_partition(resp, now_ms_);
      drain(req.broker_id);
      // A refused change means the leader is behind: the controller's state reaches it.
      if (r.error != KafkaError::none) announce_to(req.broker_id);
    }
    return handled;
  }
  std::size_t pending_alters() const { return alters_.size(); }

  // --- nodes
  void deliver(const Envelope& env) {
    if (!alive(env.to)) return;
    node(env.to).driver->replica().step(env, now_ms_);
    drain(env.to);
  }
  void tick_all() {
    for (auto& [id, n] : nodes_) {
      if (!n->up) continue;
      n->driver->replica().tick(now_ms_);
      drain(id);
    }
  }
  // A power cut on one replica's machine: it is down until restart().
  void crash(BrokerId id, PowerCutMode mode = PowerCutMode::drop_unsynced) {
    ClusterNode& n = node(id);
    if (!n.up) return;
    for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
      n.env->fail_always(op, 5 /* EIO */);
    }
    n.driver.reset();
    n.partition.reset();
    n.env->clear_faults();
    n.env->power_cut(mode);
    n.up = false;
  }
  void restart(BrokerId id) {
    if (node(id).up) return;
    open(id);
    announce_to(id);
  }

  // The leader's append of `count` records "<tag>-<i>".
  Result<ProduceOutcome> produce(BrokerId at, int count, Acks acks, const std::string& tag) {
    ClusterNode& n = node(at);
    if (!n.up) return Status::failed_precondition(fmt::format("replica {} is down", at.value()));
    RecordBatchBuilder builder;
    for (int i = 0; i < count; ++i) {
      const std::string value = fmt::format("{}-{}", tag, i);
      SAMSA_TRY(builder.append(Timestamp(kBaseTimestampMs + now_ms_), std::nullopt,
                               std::as_bytes(std::span(value.data(), value.size()))));
    }
    SAMSA_TRY_ASSIGN(auto built, builder.build());
    std::vector<std::byte> bytes(built.begin(), built.end());
    SAMSA_TRY_ASSIGN(auto outcome, n.driver->produce(bytes, acks, now_ms_));
    if (outcome.completion) record_completion(at, *outcome.completion);
    drain(at);
    return outcome;
  }

  // Every record of a replica's log as "offset:value", up to `bound` (none: the log end).
  std::vector<std::string> values(BrokerId id, Offset from, Offset bound = Offset::none()) {
    ClusterNode& n = node(id);
    std::vector<std::string> out;
    if (!n.up) return out;
    const Offset end = bound == Offset::none() ? n.partition->log_end_offset() : bound;
    Offset at = std::max(from, n.partition->log_start_offset());
    constexpr int kReadsMax = 100'000;
    for (int reads = 0; reads < kReadsMax && at < end; ++reads) {
      auto r = n.partition->read(at, {.max_bytes = 1 << 20, .isolation = Isolation::log_end});
      if (!r.ok() || r->slice.empty()) break;
      std::vector<std::byte> bytes;
      if (!r->slice.read_into(bytes).ok()) break;
      decode(bytes, at, end, out);
      at = r->slice.next_offset;
    }
    return out;
  }

  static std::string ids(const std::vector<BrokerId>& v) {
    std::string out;
    for (BrokerId id : v) out += fmt::format("{}{}", out.empty() ? "" : ",", id.value());
    return out;
  }

 private:
  void open(BrokerId id) {
    ClusterNode& n = node(id);
    PartitionConfig config;
    config.replicated = true;
    // Small preallocated indexes and segments: FaultyEnv keeps every byte in memory, twice.
    config.log.segment_index_bytes = 64 * 1024;
    config.log.segment_bytes = 256 * 1024;
    auto opened = Partition::open(*n.env, fmt::format("/r{}/t-0", id.value()), config, n.clock);
    if (!opened.ok()) throw std::runtime_error(opened.status().to_string());
    n.partition = std::move(opened).value();
    ReplicaSetConfig rc = options_.replica;
    rc.self = id;
    rc.broker_epoch = ++incarnations_;
    n.driver = std::make_unique<ReplicaDriver>(*n.partition, rc);
    n.up = true;
  }

  void apply(const ElectionResult& result) {
    const bool changed = !(result.next == state_);
    state_ = result.next;
    if (result.kind != ElectionKind::unchanged) {
      events_.push_back(fmt::format("election {}: {}", to_string(result.kind), describe(state_)));
    }
    if (changed) announce();
  }

  void announce_to(BrokerId id) {
    ReplicaSet& r = node(id).driver->replica();
    if (state_.leader == BrokerId::none()) return;
    if (state_.leader == id) {
      if (r.role() == ReplicaRole::leader && r.leader_epoch() == state_.leader_epoch) {
        r.update_partition(state_.partition_epoch, state_.isr, now_ms_);
      } else {
        r.become_leader(state_.leader_epoch, state_.partition_epoch, state_.replicas, state_.isr,
                        state_.elr, now_ms_);
      }
    } else {
      r.become_follower(state_.leader, state_.leader_epoch, now_ms_);
    }
    drain(id);
  }

  void record_completion(BrokerId at, const ProduceCompletion& c) {
    const ReplicaSet& r = node(at).driver->replica();
    acked_.push_back({c, at, r.leader_epoch(), r.isr().size()});
  }

  void drain(BrokerId id) {
    ClusterNode& n = node(id);
    if (!n.up) return;
    auto out = n.driver->drain(now_ms_);
    if (!out.ok()) {
      events_.push_back(fmt::format("replica {} failed: {}", id.value(), out.status().to_string()));
      return;
    }
    for (auto& c : out->completions) record_completion(id, c);
    if (out->alter_partition) alters_.push_back(*out->alter_partition);
    for (auto& m : out->messages) transport_(std::move(m));
  }

  static void decode(const std::vector<std::byte>& bytes, Offset from, Offset end,
                     std::vector<std::string>& out) {
    RecordReader reader;
    for (std::size_t pos = 0; pos < bytes.size();) {
      auto view = RecordBatchView::parse(ByteSpan(bytes).subspan(pos));
      if (!view.ok() || !reader.reset(*view).ok()) return;
      Record record;
      while (reader.next(record).value()) {
        if (record.offset < from || record.offset >= end) continue;
        std::string value(reinterpret_cast<const char*>(record.value->data()),
                          record.value->size());
        out.push_back(fmt::format("{}:{}", record.offset.value(), value));
      }
      pos += view->size_bytes();
    }
  }

  ClusterOptions options_;
  Transport transport_;
  std::map<BrokerId, std::unique_ptr<ClusterNode>> nodes_;
  PartitionState state_;
  std::deque<AlterPartitionRequest> alters_;
  std::vector<Acked> acked_;
  std::vector<std::string> events_;
  std::int64_t now_ms_ = 1'000'000;
  std::int64_t incarnations_ = 0;
};

}  // namespace samsa::test
