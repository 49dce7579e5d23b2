// RaftQuorum scenarios as data-driven scripts (tests/testdata/raft/*.txt): each node is a
// RaftQuorum over an in-memory log (a copy of the simulator's MemLog idea), every Ready is
// executed at once in the documented order (quorum-state, truncate, append + sync, send,
// high watermark), and messages wait in one FIFO the script delivers. Each node has its
// own clock (the global one plus a forward skew `campaign` and `tick node=` add).
//
// After every step the harness runs check_invariants() on every live node and checks the
// cross-node safety rules: at most one leader per epoch over the whole script, no node
// grants two candidates its vote in one epoch (across restarts too), a persisted epoch
// never goes back, and every batch below a node's high watermark is the one first seen
// committed at that offset.
//
// Commands:
//   cluster voters=(1,2,3) [observers=(4)] [seed=S] [election_timeout=MS]
//           [fetch_timeout=MS] [request_timeout=MS] [fetch_max_wait=MS] [backoff=MS]
//           [batch_max_bytes=B] [fetch_max_bytes=B] [snapshot_chunk=B]
//   tick ms=MS [node=N]           time passes for every live node (or only N's clock)
//   campaign node=N               N's clock jumps past its election or fetch timeout
//   propose node=N [values=(a,b)] [bytes=B]   B: one value of B bytes instead
//   resign node=N                 graceful resign (EndQuorumEpoch)
//   read node=N                   a linearizable read (ReadIndex); "nN: read K at offset O"
//                                 is printed when it is confirmed (or why it failed)
//   transfer node=N to=M          leader transfer to M
//   snapshot node=N [at=O]        the host snapshots its state below O (default: its high
//                                 watermark) and hands it over; the log start moves there
//   corrupt [from=N] [to=M]       flips a byte of the first queued FetchSnapshot answer's chunk
//   deliver [from=N] [to=N] [n=K] the first K matching queued messages (all by default)
//   discard [from=N] [to=N]       the matching queued messages are lost
//   stabilize [verbose]           deliver until the queue is empty (bounded)
//   drop from=N to=M              cut the link one way (until heal): what is sent over
//                                 it is lost, what was queued is dropped when delivered
//   partition (1)(2,3)            cut every link between the groups (unlisted: one more)
//   isolate node=N                cut every link to and from N
//   heal [node=N]                 restore every link (or N's)
//   crash node=N | restart node=N a crash keeps only what executed Readys made durable
//   crash node=N during=state|append|send   the next Ready stops there and the node crashes
//   inject from=F to=T kind=vote|prevote|begin|end|fetch|fetchsnapshot [epoch=E]
//           [cluster=C] [leader=L] [offset=O] [last_epoch=E] [last_offset=O] [candidate=C]
//           [position=P] [max=B]     (fetchsnapshot: the snapshot is offset-last_epoch)
//                                 a hand-made message stepped into T; prints T's answers
//   status | log node=N | queue | counters node=N
//
// Events printed under a command: "nN: <Role> epoch=E leader=L voted=V" when any of those
// change, "nN: truncate to O", "nN: append [a,b] epoch=E", "nN: hw=O", "nN: log start O",
// "nN: snapshot chunk at P (+B bytes, last)", "nN: snapshot O-E fetched: <outcome>",
// "nN: load snapshot O-E".
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "datadriven.h"
#include "raft_mem_log.h"
#include "samsa/raft_quorum.h"
#include "samsa/raft_records.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

using namespace samsa;
using namespace samsa::test;
using raft::Message;
using raft::NodeId;
using raft::RaftQuorum;
using raft::Role;

namespace {

using Batch = samsa::test::MemBatch;
using MemLog = samsa::test::MemRaftLog;
using samsa::test::hash_bytes;

struct Node {
  NodeId id = 0;
  bool voter = true;
  MemLog disk;
  std::unique_ptr<RaftQuorum> q;  // null while down
  std::uint64_t incarnation = 0;
  std::int64_t skew = 0;
  raft::RaftStatus shown;  // the last role/epoch/leader/vote printed
  // Armed by `crash during=`: the next Ready with something to persist or send stops at
  // that stage and the node crashes: "state" before the quorum-state is written, "append"
  // after it (the truncation and appends are lost), "send" once all is durable but before
  // any message leaves.
  std::string crash_during;
};

std::string role_line(const raft::RaftStatus& s) {
  return fmt::format("{} epoch={} leader={} voted={}", raft::to_string(s.role), s.epoch,
                     s.leader_id, s.voted_id);
}

// "a,b" for a data batch, "LeaderChange(leader=1 voters=1,2,3 granting=1,2)" for control.
std::string describe_batch(const Batch& b) {
  auto view = RecordBatchView::parse(ByteSpan(b.bytes));
  if (!view.ok()) return "bad batch";
  std::string head = fmt::format("[{},{}] epoch={} ", b.base, view->last_offset(), b.epoch);
  if (view->is_control()) {
    auto records = decode_control_batch(*view);
    if (!records.ok()) return head + "bad control batch";
    std::string s;
    for (const auto& r : *records) {
      if (const auto* lc = std::get_if<LeaderChangeMessage>(&r)) {
        s += fmt::format("LeaderChange(leader={} voters={} granting={})", lc->leader_id,
                         fmt::join(lc->voters, ","), fmt::join(lc->granting_voters, ","));
      } else {
        s += "control";
      }
    }
    return head + s;
  }
  RecordReader reader;
  if (!reader.reset(*view).ok()) return head + "bad records";
  std::vector<std::string> values;
  Record rec;
  for (;;) {
    auto more = reader.next(rec);
    if (!more.ok() || !*more) break;
    std::string v;
    if (rec.value) {
      for (std::byte x : *rec.value) v += static_cast<char>(x);
    }
    values.push_back(v.size() > 16 ? fmt::format("<{} bytes>", v.size()) : v);
  }
  return head + fmt::format("{}", fmt::join(values, ","));
}

class Script {
 public:
  std::string run(const DataCommand& cmd) {
    if (cmd.name == "cluster") return make(cmd);
    if (nodes_.empty()) throw DataError{"no cluster yet"};
    std::string out;
    if (cmd.name == "tick") {
      out = tick(cmd);
    } else if (cmd.name == "campaign") {
      out = campaign(node(cmd));
    } else if (cmd.name == "propose") {
      out = propose(cmd);
    } else if (cmd.name == "resign") {
      Node& n = live(node(cmd));
      out = n.q->resign(clock(n)) ? "ok\n" : "not the leader\n";
      out += drain(n);
    } else if (cmd.name == "read") {
      Node& n = live(node(cmd));
      const raft::ReadIndexResult r = n.q->read_index(clock(n));
      out = r.ok() ? fmt::format("read {}\n", r.read_id)
                   : fmt::format("error {} leader={} epoch={}: {}\n", to_string(r.error_code),
                                 r.leader.leader_id, r.leader.epoch, r.status.message());
      out += drain(n);
    } else if (cmd.name == "transfer") {
      Node& n = live(node(cmd));
      const Status st = n.q->transfer_leadership(static_cast<NodeId>(cmd.num("to")), clock(n));
      out = st.ok() ? "ok\n" : fmt::format("error: {}\n", st.message());
      out += drain(n);
    } else if (cmd.name == "snapshot") {
      out = snapshot(cmd);
    } else if (cmd.name == "corrupt") {
      out = corrupt(cmd);
    } else if (cmd.name == "deliver") {
      out = deliver(cmd);
    } else if (cmd.name == "discard") {
      const NodeId from = static_cast<NodeId>(cmd.num("from", -1));
      const NodeId to = static_cast<NodeId>(cmd.num("to", -1));
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((from >= 0 && it->from != from) || (to >= 0 && it->to != to)) {
          ++it;
          continue;
        }
        out += "lost " + raft::describe(*it) + "\n";
        it = queue_.erase(it);
      }
    } else if (cmd.name == "stabilize") {
      out = stabilize(cmd.has("verbose"));
    } else if (cmd.name == "drop") {
      cut_.insert({static_cast<NodeId>(cmd.num("from")), static_cast<NodeId>(cmd.num("to"))});
      out = "ok\n";
    } else if (cmd.name == "partition") {
      out = partition(cmd);
    } else if (cmd.name == "isolate") {
      const NodeId id = node(cmd);
      for (const auto& [other, n] : nodes_) {
        if (other == id) continue;
        cut_.insert({id, other});
        cut_.insert({other, id});
      }
      out = "ok\n";
    } else if (cmd.name == "heal") {
      if (cmd.has("node")) {
        const NodeId id = node(cmd);
        std::erase_if(cut_,
                      [&](const auto& link) { return link.first == id || link.second == id; });
      } else {
        cut_.clear();
      }
      out = "ok\n";
    } else if (cmd.name == "crash") {
      Node& n = live(node(cmd));
      if (cmd.has("during")) {
        const std::string stage = cmd.str("during");
        if (stage != "state" && stage != "append" && stage != "send") {
          throw DataError{"crash during=state|append|send"};
        }
        n.crash_during = stage;
        out = "armed\n";
      } else {
        n.q.reset();
        n.disk.batches.resize(n.disk.durable);  // what no executed Ready synced is gone
        out = "ok\n";
      }
    } else if (cmd.name == "restart") {
      Node& n = at(node(cmd));
      if (n.q) throw DataError{fmt::format("node {} is up", n.id)};
      out = start(n);
      out += fmt::format("n{}: {}\n", n.id, status_line(n));
    } else if (cmd.name == "inject") {
      out = inject(cmd);
    } else if (cmd.name == "status") {
      for (auto& [id, n] : nodes_) out += fmt::format("n{}: {}\n", id, status_line(*n));
    } else if (cmd.name == "log") {
      out = log(at(node(cmd)));
    } else if (cmd.name == "queue") {
      for (const auto& m : queue_) out += raft::describe(m) + "\n";
      if (out.empty()) out = "empty\n";
    } else if (cmd.name == "counters") {
      const raft::RaftCounters& c = live(node(cmd)).q->counters();
      out = fmt::format(
          "elections={} prevotes={} became_leader={} check_quorum_resigns={} truncations={} "
          "refused={} stale={}\n",
          c.elections_started, c.prevotes_started, c.became_leader, c.check_quorum_resigns,
          c.truncations, c.refused_messages, c.stale_responses);
      if (c.snapshots_created + c.snapshots_sent + c.snapshots_loaded + c.snapshots_refused > 0) {
        out +=
            fmt::format("snapshots: created={} sent={} loaded={} refused={}\n", c.snapshots_created,
                        c.snapshots_sent, c.snapshots_loaded, c.snapshots_refused);
      }
    } else {
      throw DataError{"unknown command " + cmd.name};
    }
    check_all();
    return out.empty() ? "ok\n" : out;
  }

 private:
  static NodeId node(const DataCommand& cmd) { return static_cast<NodeId>(cmd.num("node")); }

  Node& at(NodeId id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) throw DataError{fmt::format("no node {}", id)};
    return *it->second;
  }
  Node& live(NodeId id) {
    Node& n = at(id);
    if (!n.q) throw DataError{fmt::format("node {} is down", id)};
    return n;
  }

  std::int64_t clock(const Node& n) const { return now_ + n.skew; }

  std::string make(const DataCommand& cmd) {
    nodes_.clear();
    queue_.clear();
    cut_.clear();
    leaders_.clear();
    votes_.clear();
    committed_.clear();
    now_ = 0;
    seed_ = static_cast<std::uint64_t>(cmd.num("seed", 1));
    voters_.clear();
    for (const auto& v : cmd.list("voters")) voters_.push_back(std::stoi(v));
    config_ = raft::RaftConfig{};
    config_.cluster_id = "test-cluster";
    config_.voters = voters_;
    config_.election_timeout_ms = cmd.num("election_timeout", 1'000);
    config_.fetch_timeout_ms = cmd.num("fetch_timeout", 2'000);
    config_.request_timeout_ms = cmd.num("request_timeout", 2'000);
    config_.election_backoff_max_ms = cmd.num("backoff", 1'000);
    config_.fetch_max_wait_ms = static_cast<std::int32_t>(cmd.num("fetch_max_wait", 500));
    config_.batch_max_bytes = static_cast<std::size_t>(cmd.num("batch_max_bytes", 8 << 20));
    config_.fetch_max_bytes = static_cast<std::int32_t>(cmd.num("fetch_max_bytes", 8 << 20));
    config_.snapshot_chunk_max_bytes =
        static_cast<std::int32_t>(cmd.num("snapshot_chunk", 1 << 20));
    std::vector<NodeId> all = voters_;
    for (const auto& v : cmd.list("observers")) all.push_back(std::stoi(v));
    std::string out;
    for (NodeId id : all) {
      auto n = std::make_unique<Node>();
      n->id = id;
      n->voter = std::find(voters_.begin(), voters_.end(), id) != voters_.end();
      Node& ref = *n;
      nodes_[id] = std::move(n);
      out += start(ref);
    }
    return out;
  }

  std::string start(Node& n) {
    ++n.incarnation;
    raft::RaftConfig c = config_;
    c.self = n.id;
    c.random_seed = seed_ * 1000 + static_cast<std::uint64_t>(n.id) * 10 + n.incarnation;
    c.incarnation = n.incarnation;
    n.disk.recover();
    auto q = RaftQuorum::create(c, n.disk.quorum_state, n.disk.summary(), &n.disk, clock(n));
    if (!q.ok()) throw DataError{fmt::format("node {}: {}", n.id, q.status().message())};
    n.q = std::move(*q);
    n.shown = n.q->status();
    return drain(n);
  }

  // Executes n's Readys in the documented order; returns the events.
  std::string drain(Node& n) {
    std::string out;
    for (int guard = 0; n.q && n.q->has_ready(); ++guard) {
      if (guard > 100) throw DataError{fmt::format("node {}: Readys without end", n.id)};
      raft::Ready r = n.q->ready();
      auto crash_at = [&](std::string_view stage) {
        if (n.crash_during != stage) return false;
        n.crash_during.clear();
        n.q.reset();
        n.disk.batches.resize(n.disk.durable);
        out += fmt::format("n{}: crashes before {}\n", n.id,
                           stage == "state"    ? "writing quorum-state"
                           : stage == "append" ? "truncating or appending"
                                               : "sending");
        return true;
      };
      if (crash_at("state")) break;
      if (r.quorum_state) {
        const auto& old = n.disk.quorum_state;
        if (old && r.quorum_state->leader_epoch < old->leader_epoch) {
          throw DataError{fmt::format("node {} persists epoch {} after {}", n.id,
                                      r.quorum_state->leader_epoch, old->leader_epoch)};
        }
        n.disk.quorum_state = r.quorum_state;
      }
      if (crash_at("append")) break;
      if (r.truncate_to) {
        n.disk.truncate(*r.truncate_to);
        out += fmt::format("n{}: truncate to {}\n", n.id, *r.truncate_to);
      }
      if (r.load_snapshot) {
        n.disk.reset_to(r.load_snapshot->end_offset);
        n.disk.delete_old_snapshots();
        out += fmt::format("n{}: load snapshot {}-{}\n", n.id, r.load_snapshot->end_offset,
                           r.load_snapshot->epoch);
      }
      if (r.log_start_offset) {
        n.disk.advance_start(*r.log_start_offset);
        n.disk.delete_old_snapshots();
        out += fmt::format("n{}: log start {}\n", n.id, *r.log_start_offset);
      }
      if (!r.append.empty()) {
        for (const auto& b : r.append) {
          const Status st = n.disk.append(b);
          if (!st.ok()) throw DataError{st.message()};
        }
        auto first = RecordBatchView::parse(ByteSpan(r.append.front()));
        auto last = RecordBatchView::parse(ByteSpan(r.append.back()));
        out += fmt::format("n{}: append [{},{}] epoch={}\n", n.id, first->base_offset(),
                           last->last_offset(), last->partition_leader_epoch());
      }
      n.disk.durable = n.disk.batches.size();
      std::optional<Status> fetched;
      if (r.snapshot_chunk) {
        const auto& c = *r.snapshot_chunk;
        out += fmt::format("n{}: snapshot chunk at {} (+{} bytes{})\n", n.id, c.position,
                           c.bytes.size(), c.last ? ", last" : "");
        fetched = n.disk.write_chunk(c);
        if (fetched && !c.last) throw DataError{fetched->message()};
      }
      if (crash_at("send")) break;
      for (auto& m : r.messages) {
        check_vote(m);
        // A cut link loses what is sent over it now, and what was queued before the cut
        // when it comes to be delivered.
        if (!cut_.count({m.from, m.to})) queue_.push_back(std::move(m));
      }
      n.q->advance(clock(n));
      if (fetched) {
        out +=
            fmt::format("n{}: snapshot {}-{} fetched: {}\n", n.id, r.snapshot_chunk->id.end_offset,
                        r.snapshot_chunk->id.epoch, fetched->ok() ? "ok" : fetched->message());
        n.q->snapshot_fetched(r.snapshot_chunk->id, *fetched, clock(n));
      }
      if (r.high_watermark) out += fmt::format("n{}: hw={}\n", n.id, *r.high_watermark);
      for (const auto& rs : r.reads) {
        out += rs.error_code == KafkaError::none
                   ? fmt::format("n{}: read {} at offset {}\n", n.id, rs.read_id, rs.read_offset)
                   : fmt::format("n{}: read {} failed: {}\n", n.id, rs.read_id,
                                 to_string(rs.error_code));
      }
      out += role_change(n);
      check_all();
    }
    return out + role_change(n);
  }

  std::string role_change(Node& n) {
    if (!n.q) return "";
    const raft::RaftStatus s = n.q->status();
    if (s.role == n.shown.role && s.epoch == n.shown.epoch && s.leader_id == n.shown.leader_id &&
        s.voted_id == n.shown.voted_id) {
      return "";
    }
    n.shown = s;
    return fmt::format("n{}: {}\n", n.id, role_line(s));
  }

  // A granted vote (not a pre-vote): its sender must not have voted for another in that
  // epoch, before or after a restart.
  void check_vote(const Message& m) {
    const auto* v = std::get_if<raft::VoteResponse>(&m.payload);
    if (!v || !v->vote_granted || v->pre_vote) return;
    auto [it, fresh] = votes_.emplace(std::make_pair(m.from, v->leader_epoch.value()), m.to);
    if (!fresh && it->second != m.to) {
      throw DataError{fmt::format("SAFETY: node {} voted for {} and {} in epoch {}", m.from,
                                  it->second, m.to, v->leader_epoch)};
    }
  }

  void check_all() {
    for (auto& [id, n] : nodes_) {
      if (!n->q) continue;
      n->q->check_invariants();
      const raft::RaftStatus s = n->q->status();
      if (s.role == Role::leader) {
        auto [it, fresh] = leaders_.emplace(s.epoch.value(), id);
        if (!fresh && it->second != id) {
          throw DataError{
              fmt::format("SAFETY: nodes {} and {} both lead epoch {}", it->second, id, s.epoch)};
        }
      }
      // Once its Readys are executed, the disk starts where the quorum says.
      if (!n->q->has_ready() &&
          (s.latest_snapshot != n->disk.latest_snapshot() || s.log_start_offset != n->disk.start)) {
        throw DataError{fmt::format(
            "node {}: the quorum's log start {} differs from its disk's {} (or its snapshot)", id,
            s.log_start_offset, n->disk.start)};
      }
      if (s.high_watermark == Offset::none()) continue;
      for (const Batch& b : n->disk.batches) {
        if (b.next > s.high_watermark) break;
        const auto entry = std::make_pair(b.next, hash_bytes(b.bytes));
        auto [it, fresh] = committed_.emplace(b.base, entry);
        if (!fresh && it->second != entry) {
          throw DataError{fmt::format(
              "SAFETY: node {} holds a committed batch at {} that differs from the one first "
              "committed there",
              id, b.base)};
        }
      }
    }
  }

  bool blocked(const Message& m) const {
    if (cut_.count({m.from, m.to})) return true;
    auto it = nodes_.find(m.to);
    return it == nodes_.end() || !it->second->q;
  }

  // Delivers one message; "" when it was dropped and `quiet`.
  std::string deliver_one(Message m, bool quiet) {
    if (blocked(m)) return quiet ? "" : "dropped " + raft::describe(m) + "\n";
    std::string out = quiet ? "" : raft::describe(m) + "\n";
    Node& n = *nodes_.at(m.to);
    n.q->step(m, clock(n));
    check_all();
    std::string events = drain(n);
    if (!quiet) {
      // Indented under the message that caused them.
      std::string indented;
      std::size_t pos = 0;
      while (pos < events.size()) {
        const std::size_t end = events.find('\n', pos);
        indented += "  " + events.substr(pos, end - pos + 1);
        pos = end + 1;
      }
      events = indented;
    }
    return out + events;
  }

  std::string deliver(const DataCommand& cmd) {
    const NodeId from = static_cast<NodeId>(cmd.num("from", -1));
    const NodeId to = static_cast<NodeId>(cmd.num("to", -1));
    auto matches = [&](const Message& m) {
      return (from < 0 || m.from == from) && (to < 0 || m.to == to);
    };
    std::int64_t n = cmd.num("n", 0);
    if (n == 0) n = std::count_if(queue_.begin(), queue_.end(), matches);
    std::string out;
    for (std::int64_t i = 0; i < n; ++i) {
      auto it = std::find_if(queue_.begin(), queue_.end(), matches);
      if (it == queue_.end()) break;
      Message m = std::move(*it);
      queue_.erase(it);
      out += deliver_one(std::move(m), false);
    }
    return out.empty() ? "nothing to deliver\n" : out;
  }

  std::string stabilize(bool verbose) {
    constexpr int kMax = 1'000;
    std::string out;
    int delivered = 0;
    for (; delivered < kMax && !queue_.empty(); ++delivered) {
      Message m = std::move(queue_.front());
      queue_.pop_front();
      out += deliver_one(std::move(m), !verbose);
    }
    if (!queue_.empty()) {
      out +=
          fmt::format("NOT QUIET after {} messages ({} still queued)\n", delivered, queue_.size());
      queue_.clear();
    } else {
      out += fmt::format("quiet after {} messages\n", delivered);
    }
    return out;
  }

  std::string tick(const DataCommand& cmd) {
    const std::int64_t ms = cmd.num("ms");
    std::string out;
    if (cmd.has("node")) {
      Node& n = live(node(cmd));
      n.skew += ms;
      n.q->tick(clock(n));
      return drain(n);
    }
    now_ += ms;
    for (auto& [id, n] : nodes_) {
      if (!n->q) continue;
      n->q->tick(clock(*n));
      check_all();
      out += drain(*n);
    }
    return out;
  }

  // The node's clock jumps past whichever of its election or fetch timers is running (both
  // are at most that far), and it ticks once.
  std::string campaign(NodeId id) {
    Node& n = live(id);
    n.skew += std::max(config_.fetch_timeout_ms, 2 * config_.election_timeout_ms);
    n.q->tick(clock(n));
    return drain(n);
  }

  std::string propose(const DataCommand& cmd) {
    Node& n = live(node(cmd));
    std::vector<std::vector<std::byte>> values;
    if (cmd.has("bytes")) {
      values.emplace_back(static_cast<std::size_t>(cmd.num("bytes")), std::byte{'x'});
    }
    for (const auto& v : cmd.list("values")) {
      std::vector<std::byte> b;
      for (char ch : v) b.push_back(static_cast<std::byte>(ch));
      values.push_back(std::move(b));
    }
    const raft::ProposeResult r = n.q->propose(values, clock(n));
    std::string out;
    if (r.ok()) {
      out = fmt::format("ok [{},{}]\n", r.base_offset, r.last_offset);
    } else {
      out = fmt::format("error {} leader={} epoch={}: {}\n", to_string(r.error_code),
                        r.leader.leader_id, r.leader.epoch, r.status.message());
    }
    return out + drain(n);
  }

  std::string snapshot(const DataCommand& cmd) {
    Node& n = live(node(cmd));
    const raft::RaftStatus s = n.q->status();
    const Offset at = cmd.has("at") ? Offset(cmd.num("at")) : s.high_watermark;
    auto id = n.q->snapshot_id_at(at);
    if (!id.ok()) return fmt::format("error: {}\n", id.status().message());
    const std::string text = fmt::format("state below {}", at);
    std::vector<std::vector<std::byte>> values(1);
    for (char ch : text) values[0].push_back(static_cast<std::byte>(ch));
    const Status written = n.disk.create_snapshot(*id, values, clock(n));
    if (!written.ok()) throw DataError{written.message()};
    const Status handed = n.q->snapshot_created(*id, clock(n));
    if (!handed.ok()) return fmt::format("error: {}\n", handed.message());
    return fmt::format("snapshot {}-{} ({} bytes)\n", id->end_offset, id->epoch,
                       n.disk.snapshots.at(*id).size()) +
           drain(n);
  }

  std::string corrupt(const DataCommand& cmd) {
    const NodeId from = static_cast<NodeId>(cmd.num("from", -1));
    const NodeId to = static_cast<NodeId>(cmd.num("to", -1));
    for (auto& m : queue_) {
      if ((from >= 0 && m.from != from) || (to >= 0 && m.to != to)) continue;
      auto* r = std::get_if<raft::FetchSnapshotResponse>(&m.payload);
      if (r == nullptr || r->unaligned_records.empty()) continue;
      r->unaligned_records[r->unaligned_records.size() / 2] ^= std::byte{0x40};
      return "corrupted " + raft::describe(m) + "\n";
    }
    return "no snapshot chunk queued\n";
  }

  std::string partition(const DataCommand& cmd) {
    std::string text;
    for (const auto& a : cmd.args) text += a.key;
    std::map<NodeId, int> group;
    int g = 0;
    std::size_t pos = 0;
    while ((pos = text.find('(', pos)) != std::string::npos) {
      const std::size_t end = text.find(')', pos);
      if (end == std::string::npos) throw DataError{"partition: unbalanced ("};
      std::string inner = text.substr(pos + 1, end - pos - 1);
      std::size_t p = 0;
      while (p < inner.size()) {
        std::size_t comma = inner.find(',', p);
        if (comma == std::string::npos) comma = inner.size();
        group[std::stoi(inner.substr(p, comma - p))] = g;
        p = comma + 1;
      }
      ++g;
      pos = end + 1;
    }
    for (const auto& [id, n] : nodes_) {
      if (!group.count(id)) group[id] = g;  // the unlisted: one more group
    }
    cut_.clear();
    for (const auto& [a, ga] : group) {
      for (const auto& [b, gb] : group) {
        if (ga != gb) cut_.insert({a, b});
      }
    }
    return "ok\n";
  }

  std::string inject(const DataCommand& cmd) {
    const NodeId from = static_cast<NodeId>(cmd.num("from"));
    const NodeId to = static_cast<NodeId>(cmd.num("to"));
    Node& target = live(to);
    const raft::RaftStatus s = target.q->status();
    const std::string cluster = cmd.str("cluster", config_.cluster_id);
    const LeaderEpoch epoch(static_cast<std::int32_t>(cmd.num("epoch", s.epoch.value())));
    const std::string kind = cmd.str("kind");
    constexpr std::int64_t kCorrelation = 777;
    Message m{from, to, kCorrelation, raft::FetchRequest{}};
    if (kind == "vote" || kind == "prevote") {
      raft::VoteRequest r;
      r.cluster_id = cluster;
      r.voter_id = to;
      r.candidate_epoch = epoch;
      r.candidate_id = static_cast<NodeId>(cmd.num("candidate", from));
      r.last_offset_epoch = LeaderEpoch(static_cast<std::int32_t>(cmd.num("last_epoch", 0)));
      r.last_offset = Offset(cmd.num("last_offset", 0));
      r.pre_vote = kind == "prevote";
      m.payload = r;
    } else if (kind == "begin") {
      raft::BeginQuorumEpochRequest r;
      r.cluster_id = cluster;
      r.voter_id = to;
      r.leader_epoch = epoch;
      r.leader_id = static_cast<NodeId>(cmd.num("leader", from));
      m.payload = r;
    } else if (kind == "end") {
      raft::EndQuorumEpochRequest r;
      r.cluster_id = cluster;
      r.leader_epoch = epoch;
      r.leader_id = static_cast<NodeId>(cmd.num("leader", from));
      m.payload = r;
    } else if (kind == "fetch") {
      raft::FetchRequest r;
      r.cluster_id = cluster;
      r.replica_id = from;
      r.max_wait_ms = 0;
      r.current_leader_epoch = epoch;
      r.fetch_offset = Offset(cmd.num("offset", 0));
      r.last_fetched_epoch = LeaderEpoch(static_cast<std::int32_t>(cmd.num("last_epoch", -1)));
      r.log_start_offset = Offset(0);
      r.partition_max_bytes = 1 << 20;
      m.payload = r;
    } else if (kind == "fetchsnapshot") {
      raft::FetchSnapshotRequest r;
      r.cluster_id = cluster;
      r.replica_id = from;
      r.max_bytes = static_cast<std::int32_t>(cmd.num("max", 1 << 20));
      r.current_leader_epoch = epoch;
      r.snapshot_id = {Offset(cmd.num("offset", 0)),
                       LeaderEpoch(static_cast<std::int32_t>(cmd.num("last_epoch", 0)))};
      r.position = cmd.num("position", 0);
      m.payload = r;
    } else {
      throw DataError{"inject: unknown kind " + kind};
    }
    const std::uint64_t refused = target.q->counters().refused_messages;
    target.q->step(m, clock(target));
    check_all();
    std::string events = drain(target);
    std::string out;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->to != from || it->correlation_id != kCorrelation) {
        ++it;
        continue;
      }
      out += raft::describe(*it) + "\n";
      it = queue_.erase(it);
    }
    if (out.empty()) out = "no answer\n";
    const std::uint64_t refused_now = target.q ? target.q->counters().refused_messages : refused;
    if (refused_now != refused) out += fmt::format("refused +{}\n", refused_now - refused);
    return out + events;
  }

  std::string status_line(const Node& n) const {
    if (!n.q) return "down";
    const raft::RaftStatus s = n.q->status();
    std::string snap;
    if (s.latest_snapshot) {
      snap = fmt::format(" start={} snapshot={}-{}", s.log_start_offset,
                         s.latest_snapshot->end_offset, s.latest_snapshot->epoch);
    }
    return fmt::format("{} leo={} hw={}{}{}", role_line(s), s.log_end_offset, s.high_watermark,
                       snap, n.voter ? "" : " observer");
  }

  std::string log(const Node& n) const {
    std::string out;
    for (const Batch& b : n.disk.batches) out += describe_batch(b) + "\n";
    if (out.empty()) out = "empty\n";
    if (n.q) out += fmt::format("hw={}\n", n.q->status().high_watermark);
    return out;
  }

  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::vector<NodeId> voters_;
  raft::RaftConfig config_;
  std::uint64_t seed_ = 1;
  std::int64_t now_ = 0;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;  // (from, to) links that drop everything
  std::map<std::int32_t, NodeId> leaders_;   // epoch -> its leader
  std::map<std::pair<NodeId, std::int32_t>, NodeId> votes_;       // (voter, epoch) -> candidate
  std::map<Offset, std::pair<Offset, std::uint64_t>> committed_;  // base -> (next, hash)
};

}  // namespace

TEST_CASE("RaftQuorum scenarios (tests/testdata/raft/*.txt)", "[raft][datadriven]") {
  run_data_dir("raft", [] {
    auto script = std::make_shared<Script>();
    return [script](const DataCommand& cmd) { return script->run(cmd); };
  });
}
