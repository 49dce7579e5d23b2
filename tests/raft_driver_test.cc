// RaftDriver: RaftQuorum nodes on FaultyEnv disks, a samsa Log and Kafka's quorum-state
// file each; elections, commits, power cuts in every FaultyEnv mode, torn and malformed
// quorum-state files, and I/O errors that stop a node.
#include "samsa/raft_driver.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "samsa/faulty_env.h"
#include "samsa/record_batch.h"

using namespace samsa;
using namespace samsa::raft;

namespace {

struct TestNode {
  std::unique_ptr<FaultyEnv> env;
  std::unique_ptr<RaftDriver> driver;
  std::uint64_t incarnation = 0;
};

// Three voters in one process; a FIFO network delivered by run().
class TestQuorum {
 public:
  explicit TestQuorum(int voters = 3) {
    for (int i = 1; i <= voters; ++i) ids_.push_back(i);
    for (NodeId id : ids_) {
      nodes_[id].env = std::make_unique<FaultyEnv>(static_cast<std::uint64_t>(id) * 17);
      open(id);
    }
  }

  void open(NodeId id) {
    TestNode& n = nodes_[id];
    RaftConfig c;
    c.self = id;
    c.voters = ids_;
    c.cluster_id = "driver-test";
    c.random_seed = static_cast<std::uint64_t>(id) * 1000 + n.incarnation;
    c.incarnation = ++n.incarnation;
    c.election_timeout_ms = 100;
    c.election_backoff_max_ms = 100;
    c.fetch_timeout_ms = 200;
    c.request_timeout_ms = 100;
    c.fetch_max_wait_ms = 50;  // long polls: an idle quorum sends nothing between ticks
    LogConfig lc;
    lc.segment_bytes = 64 * 1024;  // several segments: reads cross them
    lc.segment_index_bytes = 16 * 1024;
    auto d = RaftDriver::open(*n.env, fmt::format("/node{}", id), c, now_, lc, clock_);
    REQUIRE(d.ok());
    n.driver = std::move(*d);
  }

  void take(const Result<RaftOutput>& out) {
    REQUIRE(out.ok());
    for (const auto& m : out->messages) queue_.push_back(m);
  }

  // Delivers and ticks until `done` or the bound; false when the bound was hit.
  template <typename Done>
  bool run(Done done, int max_ms = 20'000) {
    for (int t = 0; t < max_ms; t += 5) {
      now_ += 5;
      for (int k = 0; k < 10'000 && !queue_.empty(); ++k) {
        Message m = queue_.front();
        queue_.pop_front();
        auto it = nodes_.find(m.to);
        if (it == nodes_.end() || !it->second.driver || down_.count(m.to)) continue;
        take(it->second.driver->step(m, now_));
      }
      for (auto& [id, n] : nodes_) {
        if (n.driver && !down_.count(id)) take(n.driver->tick(now_));
      }
      if (done()) return true;
    }
    return false;
  }

  NodeId leader() const {
    for (const auto& [id, n] : nodes_) {
      if (n.driver && !down_.count(id) && n.driver->quorum().status().role == Role::leader)
        return id;
    }
    return kNoNode;
  }

  bool all_at(Offset hw) const {
    for (const auto& [id, n] : nodes_) {
      if (down_.count(id)) continue;
      if (n.driver->quorum().status().high_watermark < hw) return false;
    }
    return true;
  }

  ProposeResult propose(NodeId id, const std::string& value) {
    std::vector<std::vector<std::byte>> values(1);
    values[0].resize(value.size());
    std::memcpy(values[0].data(), value.data(), value.size());
    auto r = nodes_[id].driver->quorum().propose(values, now_);
    if (r.ok()) take(nodes_[id].driver->drain(now_));
    return r;
  }

  // The values of the committed non-control records on `id`, in order.
  std::vector<std::string> committed(NodeId id) {
    std::vector<std::string> out;
    auto bytes = nodes_[id].driver->read_committed(Offset(0), 64 << 20);
    REQUIRE(bytes.ok());
    std::size_t pos = 0;
    while (pos < bytes->size()) {
      auto view = RecordBatchView::parse(ByteSpan(*bytes).subspan(pos));
      REQUIRE(view.ok());
      pos += view->size_bytes();
      if (view->is_control()) continue;
      RecordReader reader;
      REQUIRE(reader.reset(*view).ok());
      Record rec;
      while (*reader.next(rec)) {
        out.emplace_back(reinterpret_cast<const char*>(rec.value->data()), rec.value->size());
      }
    }
    return out;
  }

  void power_cut(NodeId id, PowerCutMode mode) {
    TestNode& n = nodes_[id];
    n.driver.reset();
    n.env->power_cut(mode);
    open(id);
  }

  std::int64_t now_ = 0;
  ManualClock clock_;
  std::vector<NodeId> ids_;
  std::map<NodeId, TestNode> nodes_;
  std::set<NodeId> down_;
  std::deque<Message> queue_;
};

}  // namespace

TEST_CASE("raft driver: three nodes elect, commit and keep the Kafka layout", "[raft][driver]") {
  TestQuorum q;
  REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  const NodeId leader = q.leader();
  for (int i = 0; i < 50; ++i) REQUIRE(q.propose(leader, fmt::format("v{}", i)).ok());
  const Offset end = q.nodes_[leader].driver->quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  for (NodeId id : q.ids_) {
    const auto values = q.committed(id);
    REQUIRE(values.size() == 50);
    CHECK(values.front() == "v0");
    CHECK(values.back() == "v49");
    // Kafka's directory layout and quorum-state file.
    auto qs = read_quorum_state(*q.nodes_[id].env,
                                fmt::format("/node{}/__cluster_metadata-0/quorum-state", id));
    REQUIRE(qs.ok());
    REQUIRE(qs->has_value());
    CHECK((*qs)->leader_id == leader);
    CHECK((*qs)->leader_epoch == q.nodes_[id].driver->quorum().status().epoch.value());
  }
  // The log holds the leader's LeaderChange control batch first in its epoch.
  auto first = q.nodes_[leader].driver->read_committed(
      q.nodes_[leader].driver->quorum().status().epoch_start_offset, 1 << 20);
  REQUIRE(first.ok());
  auto view = RecordBatchView::parse(ByteSpan(*first));
  REQUIRE(view.ok());
  CHECK(view->is_control());
}

TEST_CASE("raft driver: committed data survives power cuts of every mode", "[raft][driver]") {
  const PowerCutMode mode = GENERATE(PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write,
                                     PowerCutMode::random_prefix);
  TestQuorum q;
  REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  int next = 0;
  std::vector<std::string> acked;
  for (int round = 0; round < 6; ++round) {
    const NodeId leader = q.leader();
    REQUIRE(leader != kNoNode);
    std::vector<std::pair<Offset, std::string>> sent;
    for (int i = 0; i < 10; ++i) {
      const std::string v = fmt::format("r{}v{}", round, next++);
      auto r = q.propose(leader, v);
      REQUIRE(r.ok());
      sent.push_back({r.last_offset, v});
    }
    const Offset end = q.nodes_[leader].driver->quorum().status().log_end_offset;
    REQUIRE(q.run([&] { return q.all_at(end); }));
    for (const auto& s : sent) acked.push_back(s.second);
    // Cut the power of the leader (even rounds) or a follower (odd rounds).
    NodeId victim = leader;
    if (round % 2 == 1) victim = leader == 1 ? 2 : 1;
    q.power_cut(victim, mode);
    REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  }
  const NodeId leader = q.leader();
  // A fresh proposal commits everything before it, and every node holds the same values.
  REQUIRE(q.propose(leader, "last").ok());
  acked.push_back("last");
  const Offset end = q.nodes_[leader].driver->quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  for (NodeId id : q.ids_) CHECK(q.committed(id) == acked);
}

TEST_CASE("raft driver: a torn or malformed quorum-state is reported, not trusted",
          "[raft][driver]") {
  TestQuorum q;
  REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  const std::string path = "/node2/__cluster_metadata-0/quorum-state";
  q.nodes_[2].driver.reset();
  {
    auto f = q.nodes_[2].env->open(path, {.create = true, .truncate = true});
    REQUIRE(f.ok());
    const std::string torn = R"({"leaderId":1,"leaderEpoch":)";
    REQUIRE(
        (*f)->append(ByteSpan(reinterpret_cast<const std::byte*>(torn.data()), torn.size())).ok());
    REQUIRE((*f)->sync().ok());
  }
  RaftConfig c;
  c.self = 2;
  c.voters = q.ids_;
  c.cluster_id = "driver-test";
  auto d = RaftDriver::open(*q.nodes_[2].env, "/node2", c, q.now_, {}, q.clock_);
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == StatusCode::corruption);
  CHECK_THAT(d.status().message(), Catch::Contains("quorum-state"));
}

TEST_CASE("raft driver: an I/O error stops the node; a reopen recovers it", "[raft][driver]") {
  TestQuorum q;
  REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  const NodeId leader = q.leader();
  const NodeId follower = leader == 1 ? 2 : 1;
  REQUIRE(q.propose(leader, "a").ok());
  Offset end = q.nodes_[leader].driver->quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  // The follower's disk fails its next sync: its driver stops with the error.
  q.nodes_[follower].env->fail_always(FaultOp::sync, EIO);
  REQUIRE(q.propose(leader, "b").ok());
  Status stopped;
  for (int t = 0; t < 400 && stopped.ok(); t += 5) {
    q.now_ += 5;
    for (int k = 0; k < 10'000 && !q.queue_.empty(); ++k) {
      Message m = q.queue_.front();
      q.queue_.pop_front();
      auto out = q.nodes_[m.to].driver->step(m, q.now_);
      if (!out.ok()) {
        if (m.to == follower) stopped = out.status();
        continue;
      }
      for (auto& x : out->messages) q.queue_.push_back(x);
    }
  }
  REQUIRE_FALSE(stopped.ok());
  CHECK_THAT(stopped.message(), Catch::Contains("stopped"));
  CHECK_FALSE(q.nodes_[follower].driver->tick(q.now_).ok());  // stays stopped
  // The disk comes back; the node restarts from what was durable and catches up.
  q.nodes_[follower].env->clear_faults();
  q.power_cut(follower, PowerCutMode::drop_unsynced);
  REQUIRE(q.propose(q.leader(), "c").ok());
  end = q.nodes_[q.leader()].driver->quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  CHECK(q.committed(follower) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("raft driver: a snapshot moves the log start; a lagging follower fetches it",
          "[raft][driver][snapshot]") {
  TestQuorum q;
  REQUIRE(q.run([&] { return q.leader() != kNoNode; }));
  const NodeId leader = q.leader();
  const NodeId lagging = leader == 3 ? 2 : 3;
  q.down_.insert(lagging);
  for (int i = 0; i < 40; ++i) REQUIRE(q.propose(leader, fmt::format("v{}", i)).ok());
  Offset end = q.nodes_[leader].driver->quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  RaftDriver& ld = *q.nodes_[leader].driver;
  const Offset hw = ld.quorum().status().high_watermark;
  REQUIRE(hw == end);

  // Bad ends are refused: past the high watermark, at the log start.
  const std::vector<std::vector<std::byte>> state = {
      {std::byte{'s'}, std::byte{'4'}, std::byte{'0'}}};
  CHECK_FALSE(ld.create_snapshot(hw + 1, state, q.now_).ok());
  CHECK_FALSE(ld.create_snapshot(Offset(0), state, q.now_).ok());

  auto id = ld.create_snapshot(hw, state, q.now_);
  REQUIRE(id.ok());
  q.take(ld.drain(q.now_));
  CHECK(id->end_offset == hw);
  CHECK(ld.latest_snapshot() == *id);
  CHECK(ld.log().log_start_offset() == hw);
  CHECK(ld.quorum().status().log_start_offset == hw);
  const std::string file =
      fmt::format("/node{}/__cluster_metadata-0/{}", leader, snapshot_file_name(*id));
  CHECK(*q.nodes_[leader].env->exists(file));

  // The lagging follower comes back with a fetch offset below the log start: it receives
  // the snapshot by FetchSnapshot (in one chunk here; tests/testdata/raft/snapshot.txt
  // splits it) and its log restarts at the snapshot's end.
  q.down_.erase(lagging);
  REQUIRE(q.run([&] { return q.all_at(hw); }));
  RaftDriver& fd = *q.nodes_[lagging].driver;
  CHECK(fd.latest_snapshot() == *id);
  CHECK(fd.log().log_start_offset() == hw);
  CHECK(fd.quorum().counters().snapshots_loaded == 1);
  auto values = fd.snapshot_values(*id);
  REQUIRE(values.ok());
  CHECK(*values == state);

  // The log goes on past the snapshot, to every node.
  REQUIRE(q.propose(leader, "after").ok());
  end = ld.quorum().status().log_end_offset;
  REQUIRE(q.run([&] { return q.all_at(end); }));
  auto bytes = fd.read_committed(hw, 1 << 20);
  REQUIRE(bytes.ok());
  CHECK_FALSE(bytes->empty());

  // A power cut keeps the snapshot and the log start.
  q.power_cut(lagging, PowerCutMode::drop_unsynced);
  CHECK(q.nodes_[lagging].driver->latest_snapshot() == *id);
  CHECK(q.nodes_[lagging].driver->log().log_start_offset() == hw);

  // A corrupt snapshot file is reported at open, naming it, never served.
  q.nodes_[leader].driver.reset();
  {
    auto f = q.nodes_[leader].env->open(file, {});
    REQUIRE(f.ok());
    std::vector<std::byte> b(1);
    REQUIRE((*f)->read_at(40, b).ok());
    b[0] ^= std::byte{0x10};
    REQUIRE((*f)->write_at(40, b).ok());
    REQUIRE((*f)->sync().ok());
  }
  RaftConfig c;
  c.self = leader;
  c.voters = q.ids_;
  c.cluster_id = "driver-test";
  auto reopened = RaftDriver::open(*q.nodes_[leader].env, fmt::format("/node{}", leader), c, q.now_,
                                   {}, q.clock_);
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().code() == StatusCode::corruption);
  CHECK_THAT(reopened.status().message(), Catch::Contains(snapshot_file_name(*id)));
}
