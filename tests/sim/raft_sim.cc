// samsa-sim raft: one KRaft quorum of 3 or 5 voters and 0-2 observers. One seed in four
// runs every node as a RaftDriver on FaultyEnv (a samsa Log and the quorum-state file; the
// next write, sync, directory sync or rename fails at random, then the power is cut in one
// of FaultyEnv's three modes); the others run each RaftQuorum on a
// simulated disk (a log of batches with an fsync boundary and an atomically replaced
// quorum-state), a simulated network that drops, delays, reorders, duplicates and
// partitions (also one way, and of the leader itself), power cuts at every stage of executing a
// Ready, restarts, forward clock jumps, graceful resigns and proposals under load.
//
// A power cut at stage 0 loses the whole Ready; at 1 keeps the quorum-state only; at 2
// also the truncation and a random prefix of the appended batches (a torn tail, cut at a
// batch boundary as Log recovery cuts it); at 3 everything is durable but nothing was sent.
//
// Invariants after every step (besides each RaftQuorum's own, asserted inside):
//   leader: at most one leader per epoch, over the whole run;
//   epochs: a node's epoch never decreases, across restarts too (as persisted);
//   hw: a node's high watermark never decreases within an incarnation;
//   committed: every batch below a node's high watermark equals the one first seen
//     committed at its offset (identical on every node that holds it), and when the
//     leader's high watermark passes a batch, a majority of voters hold it durably;
//   votes: no node grants two candidates its vote in one epoch (a crash right after voting
//     is injected often, and the node comes back at once);
//   once: every proposed value is committed at most once;
//   acked: every proposal a leader saw committed is in the final committed log;
//   reads: a read served at offset X (ReadIndex, asked of whoever leads, also a deposed
//     leader that does not know it yet) has X at or past the end of every proposal
//     acknowledged before it was asked, and X within the node's high watermark;
//   snapshots: each node's state machine is a hash chain over the committed batches it
//     applied; nodes snapshot it at random (the log start moves), lagging ones fetch the
//     leader's in chunks; a snapshot loaded or found at restart holds exactly the chain
//     the committed history has at its end offset, and the log starts at its end.
// At the end the faults stop, every node restarts, and all must converge on one leader's
// log within a bounded time.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <tuple>

#include "raft_mem_log.h"
#include "samsa/faulty_env.h"
#include "samsa/raft_driver.h"
#include "samsa/raft_quorum.h"
#include "samsa/record_batch.h"
#include "sim.h"
#include "sim_network.h"
#include "strong_types.h"

namespace samsa::sim {
namespace {

using raft::Message;
using raft::NodeId;
using raft::RaftQuorum;
using raft::Role;

std::uint64_t g_current_seed = 0;

void on_abort(int) {
  char line[160];
  const int n = std::snprintf(line, sizeof line,
                              "FAIL seed %llu (assertion): replay with: samsa-sim raft --seed %llu "
                              "--trace\n",
                              static_cast<unsigned long long>(g_current_seed),
                              static_cast<unsigned long long>(g_current_seed));
  if (n > 0) (void)!write(1, line, static_cast<std::size_t>(n));
  std::_Exit(1);
}

using Batch = samsa::test::MemBatch;
using MemLog = samsa::test::MemRaftLog;
using samsa::test::hash_bytes;

struct Node {
  NodeId id = 0;
  bool voter = true;
  MemLog disk;
  std::unique_ptr<RaftQuorum> quorum;  // the simulated disk's node
  // Seeds on FaultyEnv: a RaftDriver over a samsa Log and quorum-state file.
  std::unique_ptr<FaultyEnv> env;
  std::unique_ptr<raft::RaftDriver> driver;
  RaftQuorum* q = nullptr;  // null while down
  std::int64_t down_until = 0;
  std::int64_t skew = 0;  // forward clock jumps
  std::uint64_t incarnation = 0;
  LeaderEpoch life_epoch{0};   // this incarnation's epoch so far
  Offset hw = Offset::none();  // this incarnation's high watermark
  Offset applied{0};           // checked against the committed history up to here
  std::uint64_t chain = 0;     // the state machine: a hash chain of the batches applied
};

std::uint64_t chain_step(std::uint64_t chain, std::uint64_t batch_hash) {
  return (chain ^ batch_hash) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

// The snapshot of a node's state machine: its chain and the offset it reached.
std::vector<std::vector<std::byte>> encode_state(std::uint64_t chain, Offset end) {
  std::vector<std::byte> b(16);
  const std::int64_t e = end.value();
  std::memcpy(b.data(), &chain, 8);
  std::memcpy(b.data() + 8, &e, 8);
  return {b};
}

struct Proposal {
  NodeId leader;
  LeaderEpoch epoch;
  Offset base;
  Offset last;
  std::vector<std::uint64_t> values;
};

class RaftSim {
 public:
  // failover: no faults but one leader crash (power cut) once the quorum commits steadily;
  // measures the time from the crash to the first commit of a proposal made after it.
  RaftSim(std::uint64_t seed, const SimOptions& options, bool failover = false)
      : seed_(seed),
        trace_(options.trace),
        failover_(failover),
        rng_(seed),
        net_(network_config(seed), seed ^ 0x51f15e) {
    steps_ = options.steps > 0 ? options.steps : 1500;
    const int voters = pick(0, 1) == 0 ? 3 : 5;
    const int observers = static_cast<int>(pick(0, 2));
    for (int i = 1; i <= voters; ++i) voter_ids_.push_back(i);
    for (int i = 0; i < voters + observers; ++i) {
      auto n = std::make_unique<Node>();
      n->id = i + 1;
      n->voter = i < voters;
      nodes_.push_back(std::move(n));
    }
    faulty_env_ = pick(0, 3) == 0;
    power_cut_per_ready_ = pick(0, 3) == 0 ? 0.0 : 0.0005 * static_cast<double>(pick(1, 8));
    election_timeout_ = pick(50, 150);
    fetch_timeout_ = election_timeout_ * 2;
    if (failover_) {
      power_cut_per_ready_ = 0;
      if (options.steps == 0) steps_ = 1'000'000;  // until measured (bounded below)
      crash_at_ = 20 * election_timeout_ + pick(0, 10 * election_timeout_);
    }
    trace(
        fmt::format("seed {}: {} voters, {} observers, {}, power cut/ready {:.4f}, election "
                    "timeout {} ms, {}",
                    seed, voters, observers, describe(net_.config()), power_cut_per_ready_,
                    election_timeout_, faulty_env_ ? "RaftDriver on FaultyEnv" : "simulated disk"));
    for (auto& n : nodes_) start(*n);
  }

  bool run() {
    for (int step = 0; step < steps_ && ok_; ++step) {
      now_ += pick(1, 5);
      if (failover_) {
        failover_step();
        if (failover_ms_ >= 0 || now_ > crash_at_ + 200 * election_timeout_) break;
      } else {
        faults();
      }
      load();
      deliver();
      tick_all();
    }
    if (failover_ && ok_ && failover_ms_ < 0)
      fail(fmt::format("no commit within {} ms of the leader's crash", now_ - crash_time_));
    if (ok_) converge();
    if (trace_ || !ok_) {
      trace(fmt::format(
          "end: {} committed batches, {} acked proposals, {} reads served, {} "
          "failed, {} snapshots taken, {} loaded, net {} sent {} dropped {} blocked",
          committed_.size(), acked_.size(), reads_served_, reads_failed_, snapshots_created_,
          snapshots_loaded_, net_.stats().sent, net_.stats().dropped, net_.stats().blocked));
    }
    return ok_;
  }

  std::int64_t failover_ms() const { return failover_ms_; }
  std::int64_t election_timeout() const { return election_timeout_; }
  std::int64_t fetch_timeout() const { return fetch_timeout_; }

 private:
  // Restarts crashed nodes but the old leader, and cuts the leader's power at crash_at_.
  void failover_step() {
    for (auto& n : nodes_) {
      if (!n->q && now_ >= n->down_until) start(*n);
    }
    if (crash_time_ >= 0 || now_ < crash_at_) return;
    for (auto& n : nodes_) {
      if (!n->q || n->q->status().role != Role::leader) continue;
      if (n->q->status().high_watermark == Offset::none() || acked_.empty()) return;
      crash_epoch_ = n->q->status().epoch;
      crash_time_ = now_;
      trace(fmt::format("failover: leader {} of epoch {} loses power", n->id, crash_epoch_));
      crash(*n, -1);
      n->down_until = now_ + 1'000'000;  // stays down while the failover is measured
      return;
    }
  }

  static NetworkConfig network_config(std::uint64_t seed) {
    std::mt19937_64 r(seed * 7919);
    NetworkConfig c;
    c.drop_probability = std::uniform_int_distribution<int>(0, 8)(r) / 100.0;
    c.duplicate_probability = std::uniform_int_distribution<int>(0, 4)(r) / 100.0;
    c.delay_min_ms = 1;
    c.delay_max_ms = std::uniform_int_distribution<int>(2, 30)(r);
    return c;
  }

  std::int64_t pick(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void trace(const std::string& s) {
    if (trace_) fmt::print("[{:>6}] {}\n", now_, s);
  }
  void fail(const std::string& s) {
    if (ok_) fmt::print("seed {}: VIOLATION at t={}: {}\n", seed_, now_, s);
    ok_ = false;
  }

  std::int64_t clock(const Node& n) const { return now_ + n.skew; }

  void start(Node& n) {
    ++n.incarnation;
    raft::RaftConfig c;
    c.self = n.id;
    c.voters = voter_ids_;
    c.cluster_id = "sim-cluster";
    c.random_seed = seed_ * 1000 + static_cast<std::uint64_t>(n.id) * 100 + n.incarnation;
    c.incarnation = n.incarnation;
    c.election_timeout_ms = election_timeout_;
    c.election_backoff_max_ms = election_timeout_;
    c.fetch_timeout_ms = fetch_timeout_;
    c.request_timeout_ms = election_timeout_;
    c.fetch_max_wait_ms = static_cast<std::int32_t>(pick(0, 40));
    c.fetch_max_bytes = static_cast<std::int32_t>(pick(200, 5000));
    // Failover is measured with a realistic fetch size: with a few hundred bytes a follower
    // that lagged before the crash catches up slower than the new leader takes proposals.
    if (failover_) c.fetch_max_bytes = 1 << 20;
    c.snapshot_chunk_max_bytes = static_cast<std::int32_t>(pick(40, 400));
    c.uncommitted_max_bytes = 64 << 10;
    n.hw = Offset::none();
    n.applied = Offset(0);
    n.chain = 0;
    if (faulty_env_) {
      if (!n.env)
        n.env = std::make_unique<FaultyEnv>(seed_ * 131 + static_cast<std::uint64_t>(n.id));
      LogConfig lc;
      lc.segment_bytes = 16 * 1024;  // several segments per node: reads and truncation cross them
      lc.segment_index_bytes = 4 * 1024;
      auto d =
          raft::RaftDriver::open(*n.env, fmt::format("/node{}", n.id), c, clock(n), lc, log_clock_);
      if (!d.ok()) return fail(fmt::format("node {} cannot start: {}", n.id, d.status().message()));
      n.driver = std::move(*d);
      n.q = &n.driver->quorum();
    } else {
      // A restart keeps only what was durable.
      n.disk.batches.resize(n.disk.durable);
      n.disk.recover();
      auto q = RaftQuorum::create(c, n.disk.quorum_state, n.disk.summary(), &n.disk, clock(n));
      if (!q.ok()) return fail(fmt::format("node {} cannot start: {}", n.id, q.status().message()));
      n.quorum = std::move(*q);
      n.q = n.quorum.get();
      // A restart resumes the persisted epoch (what was only in memory was never told).
      const std::int32_t persisted = n.disk.quorum_state ? n.disk.quorum_state->leader_epoch : 0;
      if (n.q->status().epoch.value() != persisted) {
        fail(fmt::format("node {} restarts in epoch {}, not its persisted {}", n.id,
                         n.q->status().epoch, persisted));
      }
    }
    const LeaderEpoch e = n.q->status().epoch;
    n.life_epoch = e;
    if (const auto snap = n.q->status().latest_snapshot) load_state(n, *snap);
    trace(fmt::format("node {} starts (incarnation {}): epoch {} log end {}", n.id, n.incarnation,
                      e, n.q->status().log_end_offset));
    drain(n);
  }

  void crash(Node& n, int stage) {
    trace(fmt::format("node {} loses power (stage {})", n.id, stage));
    n.quorum.reset();
    n.q = nullptr;
    if (n.driver) {
      n.driver.reset();
      const auto mode = static_cast<PowerCutMode>(pick(0, 2));
      n.env->power_cut(mode);
    }
    n.down_until = now_ + pick(20, 800);
    net_.drop_node(n.id);
  }

  // Executes n's Readys until none is left; may cut power half way.
  void drain(Node& n) {
    if (n.driver) return drain_driver(n);
    for (int guard = 0; n.q && n.q->has_ready() && guard < 100; ++guard) {
      raft::Ready r = n.q->ready();
      const int cut =
          !stopping_ && chance(power_cut_per_ready_) ? static_cast<int>(pick(0, 3)) : -1;
      if (cut == 0) return crash(n, 0);
      if (r.quorum_state) {
        if (n.disk.quorum_state &&
            r.quorum_state->leader_epoch < n.disk.quorum_state->leader_epoch) {
          fail(fmt::format("node {} persists epoch {} after {}", n.id, r.quorum_state->leader_epoch,
                           n.disk.quorum_state->leader_epoch));
        }
        if (n.disk.quorum_state &&
            r.quorum_state->leader_epoch == n.disk.quorum_state->leader_epoch &&
            n.disk.quorum_state->voted_id != raft::kNoNode &&
            r.quorum_state->voted_id != n.disk.quorum_state->voted_id) {
          fail(fmt::format("node {} votes twice in epoch {}: {} then {}", n.id,
                           r.quorum_state->leader_epoch, n.disk.quorum_state->voted_id,
                           r.quorum_state->voted_id));
        }
        n.disk.quorum_state = r.quorum_state;
      }
      if (cut == 1) return crash(n, 1);
      if (r.truncate_to) {
        if (*r.truncate_to < committed_end_for(n)) {
          fail(fmt::format("node {} truncates to {} below what it saw committed ({})", n.id,
                           *r.truncate_to, committed_end_for(n)));
        }
        n.disk.truncate(*r.truncate_to);
      }
      if (r.load_snapshot) {
        n.disk.reset_to(r.load_snapshot->end_offset);
        n.disk.delete_old_snapshots();
      }
      if (r.log_start_offset) {
        n.disk.advance_start(*r.log_start_offset);
        n.disk.delete_old_snapshots();
      }
      for (const auto& b : r.append) {
        const Status appended = n.disk.append(b);
        if (!appended.ok()) return fail(fmt::format("node {}: {}", n.id, appended.message()));
      }
      if (cut == 2) {
        n.disk.durable += static_cast<std::size_t>(
            pick(0, static_cast<std::int64_t>(n.disk.batches.size() - n.disk.durable)));
        return crash(n, 2);
      }
      n.disk.durable = n.disk.batches.size();
      std::optional<Status> fetched;
      if (r.snapshot_chunk) {
        fetched = n.disk.write_chunk(*r.snapshot_chunk);
        if (fetched && !r.snapshot_chunk->last)
          return fail(fmt::format("node {}: {}", n.id, fetched->message()));
      }
      if (cut == 3) return crash(n, 3);
      bool voted = false;
      for (auto& m : r.messages) {
        if (trace_) trace("send " + raft::describe(m));
        voted = check_vote(m) || voted;  // never two votes in one epoch
        net_.send(m.from, m.to, std::move(m), now_);
      }
      // Crash right after voting (stage 4), back soon: the vote must survive.
      if (voted && power_cut_per_ready_ > 0 && !stopping_ && chance(0.2)) {
        crash(n, 4);
        n.down_until = now_ + pick(1, 20);
        return;
      }
      if (r.leader_change) {
        trace(fmt::format("node {} sees leader {} in epoch {}", n.id, r.leader_change->leader_id,
                          r.leader_change->epoch));
      }
      check_reads(n, r.reads);
      n.q->advance(clock(n));
      n.q->check_invariants();
      if (r.load_snapshot) load_state(n, *r.load_snapshot);
      observe(n);
      // After observe: the high watermark it moves to the snapshot's end belongs to the
      // log the next Ready restarts.
      if (fetched) {
        trace(fmt::format("node {} fetched snapshot {}-{}: {}", n.id,
                          r.snapshot_chunk->id.end_offset, r.snapshot_chunk->id.epoch,
                          fetched->ok() ? "ok" : fetched->message()));
        n.q->snapshot_fetched(r.snapshot_chunk->id, *fetched, clock(n));
      }
    }
  }

  // n's state machine becomes snapshot `id`'s, which must be what the committed history
  // holds at its end.
  void load_state(Node& n, SnapshotId id) {
    auto values = n.driver ? n.driver->snapshot_values(id) : n.disk.snapshot_values(id);
    if (!values.ok()) {
      return fail(fmt::format("node {}: snapshot {}-{} unreadable: {}", n.id, id.end_offset,
                              id.epoch, values.status().message()));
    }
    std::uint64_t chain = 0;
    std::int64_t end = -1;
    if (values->size() != 1 || (*values)[0].size() != 16) {
      return fail(fmt::format("node {}: snapshot {}-{} malformed", n.id, id.end_offset, id.epoch));
    }
    std::memcpy(&chain, (*values)[0].data(), 8);
    std::memcpy(&end, (*values)[0].data() + 8, 8);
    auto it = chain_at_.find(id.end_offset.value());
    if (end != id.end_offset.value() || it == chain_at_.end() || it->second != chain) {
      return fail(fmt::format(
          "node {}: snapshot {}-{} holds a state the committed history does not have there", n.id,
          id.end_offset, id.epoch));
    }
    trace(fmt::format("node {} loads snapshot {}-{}", n.id, id.end_offset, id.epoch));
    n.applied = id.end_offset;
    n.chain = chain;
    ++snapshots_loaded_;
  }

  // A node snapshots its state machine at what it applied.
  void take_snapshot(Node& n) {
    const auto s = n.q->status();
    if (n.applied <= s.log_start_offset || n.q->has_ready()) return;
    auto id = n.q->snapshot_id_at(n.applied);
    if (!id.ok()) return;  // e.g. not yet durable
    const auto state = encode_state(n.chain, n.applied);
    if (n.driver) {
      // The snapshot's write, sync, rename or directory sync may fail: nothing moved then
      // (the log start stays), and the power is cut.
      const bool inject = !stopping_ && chance(power_cut_per_ready_ * 40);
      if (inject) {
        n.env->fail_nth(static_cast<FaultOp>(pick(0, 3)), static_cast<std::uint64_t>(pick(1, 3)),
                        EIO);
      }
      auto made = n.driver->create_snapshot(n.applied, state, clock(n));
      if (inject) n.env->clear_faults();
      if (!made.ok()) {
        if (!inject) {
          return fail(fmt::format("node {}: snapshot: {}", n.id, made.status().message()));
        }
        trace(fmt::format("node {} snapshot fails: {}", n.id, made.status().message()));
        if (n.q->status().log_start_offset >= n.applied) {
          return fail(fmt::format("node {}: a failed snapshot moved the log start", n.id));
        }
        return crash(n, 6);
      }
    } else {
      const Status written = n.disk.create_snapshot(*id, state, clock(n));
      if (!written.ok()) return fail(fmt::format("node {}: snapshot: {}", n.id, written.message()));
      const Status handed = n.q->snapshot_created(*id, clock(n));
      if (!handed.ok()) return fail(fmt::format("node {}: snapshot: {}", n.id, handed.message()));
    }
    ++snapshots_created_;
    trace(fmt::format("node {} snapshots at {}-{}", n.id, id->end_offset, id->epoch));
    drain(n);
  }

  // A driver executes the Ready itself; a fault injected into its disk (the next write,
  // sync, directory sync or rename fails) stops it half way, and the power is cut.
  void drain_driver(Node& n) {
    if (!n.q->has_ready()) return;
    const bool inject = !stopping_ && chance(power_cut_per_ready_ * 4);
    if (inject) {
      n.env->fail_nth(static_cast<FaultOp>(pick(0, 3)), static_cast<std::uint64_t>(pick(1, 3)),
                      EIO);
    }
    auto out = n.driver->drain(clock(n));
    if (inject) n.env->clear_faults();
    if (!out.ok()) {
      trace(fmt::format("node {} disk fails: {}", n.id, out.status().message()));
      return crash(n, 5);
    }
    bool voted = false;
    for (auto& m : out->messages) {
      if (trace_) trace("send " + raft::describe(m));
      voted = check_vote(m) || voted;
      net_.send(m.from, m.to, std::move(m), now_);
    }
    check_reads(n, out->reads);
    n.q->check_invariants();
    if (out->load_snapshot) load_state(n, *out->load_snapshot);
    observe(n);
    if (voted && power_cut_per_ready_ > 0 && !stopping_ && chance(0.2)) {
      crash(n, 4);
      n.down_until = now_ + pick(1, 20);
    }
  }

  // linearizable: a read confirmed at offset X must see every proposal acknowledged before
  // the read was asked (their offsets are below X), and X is committed.
  void check_reads(Node& n, const std::vector<raft::ReadState>& reads) {
    for (const auto& rs : reads) {
      auto it = reads_.find({n.id, n.incarnation, rs.read_id});
      if (it == reads_.end()) {
        fail(fmt::format("node {} answers read {} it was never asked", n.id, rs.read_id));
        continue;
      }
      const Offset required = it->second;
      reads_.erase(it);
      if (rs.error_code != KafkaError::none) {
        ++reads_failed_;
        continue;
      }
      ++reads_served_;
      trace(fmt::format("node {} read {} at offset {} (needs >= {})", n.id, rs.read_id,
                        rs.read_offset, required));
      if (rs.read_offset < required) {
        fail(fmt::format(
            "node {}: read {} served at offset {} misses proposals acknowledged before it "
            "(up to {})",
            n.id, rs.read_id, rs.read_offset, required));
      }
      const Offset hw = n.q->status().high_watermark;
      if (hw == Offset::none() || rs.read_offset > hw) {
        fail(fmt::format("node {}: read {} at offset {} past its high watermark {}", n.id,
                         rs.read_id, rs.read_offset, hw));
      }
    }
  }

  // True for a granted vote; fails when its sender voted for another in that epoch.
  bool check_vote(const Message& m) {
    const auto* v = std::get_if<raft::VoteResponse>(&m.payload);
    if (!v || !v->vote_granted || v->pre_vote) return false;
    auto [it, fresh] = votes_.emplace(std::make_pair(m.from, v->leader_epoch.value()), m.to);
    if (!fresh && it->second != m.to) {
      fail(fmt::format("node {} voted for {} and {} in epoch {}", m.from, it->second, m.to,
                       v->leader_epoch));
    }
    return true;
  }

  // The batch holding `offset` in n's log: the simulated disk's batches, or the driver's
  // Log (durable: the driver syncs before it returns).
  std::optional<Batch> batch_at(const Node& n, Offset offset) const {
    if (faulty_env_) {
      if (!n.driver) return std::nullopt;
      raft::LogRaftReader reader(n.driver->log());
      auto bytes = reader.read(offset, 1);
      if (!bytes.ok() || bytes->empty()) return std::nullopt;
      auto view = RecordBatchView::parse(ByteSpan(*bytes));
      if (!view.ok() || view->base_offset() > offset || view->next_offset() <= offset)
        return std::nullopt;
      std::vector<std::byte> b(bytes->begin(),
                               bytes->begin() + static_cast<std::ptrdiff_t>(view->size_bytes()));
      return Batch{view->base_offset(), view->next_offset(), view->partition_leader_epoch(),
                   std::move(b)};
    }
    for (const Batch& x : n.disk.batches) {
      if (x.base <= offset && offset < x.next) return x;
    }
    return std::nullopt;
  }

  Offset committed_end_for(const Node& n) const {
    return n.hw == Offset::none() ? Offset(0) : n.hw;
  }

  void observe(Node& n) {
    const raft::RaftStatus s = n.q->status();
    // Epochs never go back on a node (and, checked in drain, neither on its disk).
    if (s.epoch < n.life_epoch) {
      fail(fmt::format("node {} epoch went back from {} to {}", n.id, n.life_epoch, s.epoch));
    }
    n.life_epoch = s.epoch;
    if (s.role == Role::leader) {
      auto [it, fresh] = leaders_.emplace(s.epoch.value(), n.id);
      if (!fresh && it->second != n.id) {
        fail(fmt::format("two leaders in epoch {}: {} and {}", s.epoch, it->second, n.id));
      }
    }
    if (s.high_watermark != Offset::none()) {
      if (n.hw != Offset::none() && s.high_watermark < n.hw) {
        fail(fmt::format("node {} high watermark went back from {} to {}", n.id, n.hw,
                         s.high_watermark));
      }
      n.hw = s.high_watermark;
      apply(n, s);
    }
  }

  // Checks n's batches below its high watermark against the committed history.
  void apply(Node& n, const raft::RaftStatus& s) {
    while (n.applied < n.hw) {
      const std::optional<Batch> b = batch_at(n, n.applied);
      if (!b) {
        return fail(
            fmt::format("node {} has no batch at {} below its HW {}", n.id, n.applied, n.hw));
      }
      if (b->next > n.hw) return;  // a batch commits whole
      const std::uint64_t h = hash_bytes(b->bytes);
      const std::uint64_t chain = chain_step(n.chain, h);
      auto [at, first] = chain_at_.emplace(b->next.value(), chain);
      if (!first && at->second != chain) {
        return fail(fmt::format("node {}: its state at {} differs from the committed history's",
                                n.id, b->next));
      }
      n.chain = chain;
      auto [it, fresh] = committed_.emplace(b->base.value(), h);
      if (!fresh && it->second != h) {
        return fail(fmt::format(
            "node {}: committed batch at {} differs from the one committed before", n.id, b->base));
      }
      if (fresh) {
        // A majority of voters hold it durably.
        int holders = 0;
        for (const auto& o : nodes_) {
          if (!o->voter) continue;
          if (faulty_env_ && !o->driver) {
            ++holders;  // down: its disk cannot be read without restarting it; counted
            continue;
          }
          // A node whose log starts past the batch holds it in a snapshot.
          const Offset start = faulty_env_ ? o->driver->log().log_start_offset() : o->disk.start;
          if (start >= b->next) {
            ++holders;
            continue;
          }
          if (!faulty_env_) {
            for (std::size_t i = 0; i < o->disk.durable && i < o->disk.batches.size(); ++i) {
              if (o->disk.batches[i].base == b->base && hash_bytes(o->disk.batches[i].bytes) == h)
                ++holders;
            }
            continue;
          }
          const auto ob = batch_at(*o, b->base);
          if (ob && ob->base == b->base && hash_bytes(ob->bytes) == h) ++holders;
        }
        if (holders < static_cast<int>(voter_ids_.size() / 2 + 1)) {
          return fail(fmt::format("batch at {} committed on {} voters only", b->base, holders));
        }
        record_values(*b);
      }
      n.applied = b->next;
    }
    (void)s;
    // Acknowledge the proposals this leader sees committed.
    if (s.role == Role::leader) {
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->leader == n.id && it->epoch == s.epoch && it->last < n.hw) {
          if (batch_at(n, it->base)) {
            for (auto v : it->values) acked_.insert(v);
            acked_end_ = std::max(acked_end_, it->last + 1);
            if (crash_time_ >= 0 && failover_ms_ < 0 && it->epoch > crash_epoch_) {
              failover_ms_ = now_ - crash_time_;
              trace(fmt::format("failover: first commit after the crash, {} ms", failover_ms_));
            }
          }
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  void record_values(const Batch& b) {
    auto view = RecordBatchView::parse(ByteSpan(b.bytes));
    if (view->is_control()) return;
    RecordReader reader;
    if (!reader.reset(*view).ok())
      return fail(fmt::format("committed batch at {} unreadable", b.base));
    Record rec;
    for (;;) {
      auto more = reader.next(rec);
      if (!more.ok())
        return fail(fmt::format("committed batch at {}: {}", b.base, more.status().message()));
      if (!*more) break;
      std::uint64_t v = 0;
      if (!rec.value || rec.value->size() != sizeof v)
        return fail("a committed value is malformed");
      std::memcpy(&v, rec.value->data(), sizeof v);
      if (!committed_values_.insert(v).second) {
        return fail(fmt::format("value {} committed twice (again at batch {})", v, b.base));
      }
    }
  }

  void faults() {
    for (auto& n : nodes_) {
      if (!n->q && now_ >= n->down_until && !stopping_) start(*n);
    }
    if (chance(0.002)) {
      Node& n =
          *nodes_[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(nodes_.size()) - 1))];
      if (n.q) crash(n, -1);
    }
    if (chance(0.002)) {
      std::vector<NodeId> all;
      for (auto& n : nodes_) all.push_back(n->id);
      const NodeId victim =
          all[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(all.size()) - 1))];
      if (chance(0.5)) {
        trace(fmt::format("partition: node {} isolated", victim));
        net_.isolate(victim, all);
      } else {
        // One way: the victim hears nobody (or nobody hears it).
        const bool deaf = chance(0.5);
        trace(fmt::format("partition: node {} {} (one way)", victim,
                          deaf ? "hears nobody" : "is heard by nobody"));
        for (NodeId o : all) {
          if (o == victim) continue;
          if (deaf)
            net_.block(o, victim);
          else
            net_.block(victim, o);
        }
      }
    }
    if (chance(0.002)) {
      // The leader itself is cut off: it leads on until CheckQuorum while the others elect
      // a new one and commit; a read it serves then would miss their writes.
      for (auto& n : nodes_) {
        if (!n->q || n->q->status().role != Role::leader) continue;
        std::vector<NodeId> all;
        for (auto& o : nodes_) all.push_back(o->id);
        trace(fmt::format("partition: leader {} isolated", n->id));
        net_.isolate(n->id, all);
        break;
      }
    }
    if (net_.any_blocked() && chance(0.004)) {
      trace("partition healed");
      net_.heal();
    }
    if (chance(0.001)) {
      Node& n =
          *nodes_[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(nodes_.size()) - 1))];
      const std::int64_t jump = pick(1, 3 * election_timeout_);
      n.skew += jump;
      trace(fmt::format("node {} clock jumps {} ms ahead", n.id, jump));
    }
    if (chance(0.001)) {
      for (auto& n : nodes_) {
        if (n->q && n->q->status().role == Role::leader) {
          const NodeId to = voter_ids_[static_cast<std::size_t>(
              pick(0, static_cast<std::int64_t>(voter_ids_.size()) - 1))];
          if (to == n->id) break;
          trace(fmt::format("node {} transfers leadership to node {}", n->id, to));
          if (!n->q->transfer_leadership(to, clock(*n)).ok()) fail("transfer refused");
          drain(*n);
          break;
        }
      }
    }
    if (chance(0.001)) {
      for (auto& n : nodes_) {
        if (n->q && n->q->status().role == Role::leader) {
          trace(fmt::format("node {} resigns", n->id));
          n->q->resign(clock(*n));
          drain(*n);
          break;
        }
      }
    }
  }

  void load() {
    if (!failover_ && chance(0.01)) {
      Node& n =
          *nodes_[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(nodes_.size()) - 1))];
      if (n.q) take_snapshot(n);
    }
    if (chance(0.1)) {  // a linearizable read on whoever leads (also a deposed one)
      for (auto& n : nodes_) {
        if (!n->q || n->q->status().role != Role::leader) continue;
        const auto r = n->q->read_index(clock(*n));
        if (r.ok()) reads_[{n->id, n->incarnation, r.read_id}] = acked_end_;
        drain(*n);
      }
    }
    if (!chance(0.3)) return;
    for (auto& n : nodes_) {
      if (!n->q || n->q->status().role != Role::leader) continue;
      const int count = static_cast<int>(pick(1, 3));
      std::vector<std::vector<std::byte>> values;
      std::vector<std::uint64_t> ids;
      for (int i = 0; i < count; ++i) {
        const std::uint64_t v = next_value_++;
        std::vector<std::byte> b(sizeof v);
        std::memcpy(b.data(), &v, sizeof v);
        values.push_back(std::move(b));
        ids.push_back(v);
      }
      const auto r = n->q->propose(values, clock(*n));
      if (r.ok()) {
        const auto s = n->q->status();
        pending_.push_back({n->id, s.epoch, r.base_offset, r.last_offset, ids});
      }
      drain(*n);
    }
  }

  void deliver() {
    for (int guard = 0; guard < 10'000; ++guard) {
      auto d = net_.next(now_);
      if (!d) break;
      Node* n = find(d->to);
      if (n == nullptr || !n->q) continue;
      if (trace_) trace("recv " + raft::describe(d->payload));
      n->q->step(d->payload, clock(*n));
      drain(*n);
    }
  }

  void tick_all() {
    for (auto& n : nodes_) {
      if (!n->q) continue;
      n->q->tick(clock(*n));
      drain(*n);
    }
  }

  Node* find(NodeId id) {
    for (auto& n : nodes_) {
      if (n->id == id) return n.get();
    }
    return nullptr;
  }

  // Faults stop; every node comes back; one leader must emerge and every node must reach
  // its log end as high watermark.
  void converge() {
    net_.heal();
    stopping_ = true;
    trace("faults stop; converging");
    for (auto& n : nodes_) {
      if (!n->q) start(*n);
    }
    const std::int64_t deadline = now_ + 200 * election_timeout_ + 20'000;
    while (now_ < deadline && ok_) {
      now_ += 5;
      deliver();
      tick_all();
      if (converged()) break;
    }
    if (!ok_) return;
    if (!converged()) {
      std::string s;
      for (auto& n : nodes_) {
        const auto st = n->q->status();
        s += fmt::format(" [node {} {} epoch {} leader {} end {} hw {}]", n->id, to_string(st.role),
                         st.epoch, st.leader_id, st.log_end_offset, st.high_watermark);
      }
      return fail("no convergence after the faults stopped:" + s);
    }
    for (auto v : acked_) {
      if (!committed_values_.count(v))
        return fail(fmt::format("acked value {} was never committed", v));
    }
  }

  bool converged() {
    Node* leader = nullptr;
    for (auto& n : nodes_) {
      if (n->q->status().role == Role::leader) leader = n.get();
    }
    if (leader == nullptr) return false;
    const auto ls = leader->q->status();
    if (ls.high_watermark != ls.log_end_offset) return false;
    for (auto& n : nodes_) {
      const auto s = n->q->status();
      if (s.epoch != ls.epoch || s.log_end_offset != ls.log_end_offset ||
          s.high_watermark != ls.high_watermark) {
        return false;
      }
    }
    return true;
  }

  std::uint64_t seed_;
  bool trace_;
  bool failover_ = false;
  std::int64_t crash_at_ = -1;     // failover: when the leader is crashed
  std::int64_t crash_time_ = -1;   // failover: when it was
  LeaderEpoch crash_epoch_{0};     // failover: the crashed leader's epoch
  std::int64_t failover_ms_ = -1;  // failover: crash to the next commit
  std::mt19937_64 rng_;
  SimNetwork<Message> net_;
  int steps_ = 0;
  std::int64_t now_ = 0;
  bool ok_ = true;
  bool stopping_ = false;
  double power_cut_per_ready_ = 0;
  bool faulty_env_ = false;  // this seed's nodes are RaftDrivers on FaultyEnv
  ManualClock log_clock_;
  std::int64_t election_timeout_ = 100;
  std::int64_t fetch_timeout_ = 200;
  std::vector<NodeId> voter_ids_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::int32_t, NodeId> leaders_;           // epoch -> its leader
  std::map<std::int64_t, std::uint64_t> committed_;  // batch base offset -> hash
  std::set<std::uint64_t> committed_values_;
  std::set<std::uint64_t> acked_;
  Offset acked_end_{0};  // past the last acknowledged proposal
  std::map<std::tuple<NodeId, std::uint64_t, std::uint64_t>, Offset> reads_;  // -> required
  std::uint64_t reads_served_ = 0;
  std::uint64_t reads_failed_ = 0;
  std::uint64_t snapshots_created_ = 0;
  std::uint64_t snapshots_loaded_ = 0;
  std::map<std::int64_t, std::uint64_t> chain_at_;           // end offset -> state-machine chain
  std::map<std::pair<NodeId, std::int32_t>, NodeId> votes_;  // (voter, epoch) -> candidate
  std::vector<Proposal> pending_;
  std::uint64_t next_value_ = 1;
};

}  // namespace

bool run_raft_seed(std::uint64_t seed, const SimOptions& options) {
  g_current_seed = seed;
  std::signal(SIGABRT, on_abort);
  RaftSim sim(seed, options);
  const bool ok = sim.run();
  std::signal(SIGABRT, SIG_DFL);
  return ok;
}

namespace {
std::vector<double> g_failover_ms;
std::vector<double> g_failover_per_timeout;
}  // namespace

bool run_raft_failover_seed(std::uint64_t seed, const SimOptions& options) {
  g_current_seed = seed;
  std::signal(SIGABRT, on_abort);
  RaftSim sim(seed, options, /*failover=*/true);
  const bool ok = sim.run();
  std::signal(SIGABRT, SIG_DFL);
  if (ok && sim.failover_ms() >= 0) {
    g_failover_ms.push_back(static_cast<double>(sim.failover_ms()));
    g_failover_per_timeout.push_back(static_cast<double>(sim.failover_ms()) /
                                     static_cast<double>(sim.election_timeout()));
  }
  return ok;
}

void report_raft_failover() {
  auto quantile = [](std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
  };
  fmt::print(
      "failover (leader power cut to the first commit after it) over {} seeds: median {:.0f} ms, "
      "p99 {:.0f} ms, max {:.0f} ms; in election timeouts (50-150 ms per seed; fetch timeout "
      "2x): median {:.2f}x, p99 {:.2f}x\n",
      g_failover_ms.size(), quantile(g_failover_ms, 0.5), quantile(g_failover_ms, 0.99),
      quantile(g_failover_ms, 1.0), quantile(g_failover_per_timeout, 0.5),
      quantile(g_failover_per_timeout, 0.99));
}

}  // namespace samsa::sim
