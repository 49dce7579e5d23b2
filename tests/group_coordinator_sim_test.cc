// GroupCoordinator under seeded random schedules: simulated clients that join, sync,
// heartbeat, commit, leave and crash (one request in flight each, as a client on one
// connection), time that jumps, appends that fail, and coordinator restarts that replay
// only the durable records. The coordinator asserts its own invariants after every call;
// this test checks what its clients may rely on:
//   - every request is answered at most once, and only requests that were made;
//   - within one coordinator's life, a group's generations in JoinGroup answers never go
//     back;
//   - every member answered SyncGroup NONE for generation g gets exactly what g's leader
//     assigned it (so members of one generation never share a partition);
//   - an acknowledged offset commit is what OffsetFetch returns until a later commit is
//     acknowledged, and after a restart the offset is the last acknowledged one or a commit
//     made after it (durable, its answer lost with the restart); never an older one.
// A failing seed prints itself; SAMSA_GROUP_SIM_SEED=N replays one, SAMSA_GROUP_SIM_SEEDS=N
// runs more.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "samsa/group_coordinator.h"
#include "samsa/group_records.h"

using namespace samsa;

namespace {

struct Client {
  std::string group;
  std::optional<std::string> instance;
  std::string member_id;
  std::int32_t generation = -1;
  bool leader = false;
  std::string leader_id;                 // the generation's leader, from JoinGroup
  std::vector<JoinGroupMember> members;  // the leader's JoinGroup answer
  bool synced = false;                   // got its assignment for `generation`
  std::optional<GroupRequestId> in_flight;
  std::string in_flight_kind;
  std::int64_t next_offset = 0;
};

struct Given {  // one member's part of a leader's SyncGroup
  std::string member_id;
  std::optional<std::string> instance;
  std::vector<std::byte> assignment;
};

struct Failure {
  std::string what;
};

class Sim {
 public:
  explicit Sim(std::uint64_t seed, bool trace = false) : rng_(seed), seed_(seed), trace_(trace) {
    config_.initial_rebalance_delay_ms = pick(0, 1) ? 0 : 300;
    config_.min_session_timeout_ms = 100;
    config_.offsets_retention_ms = std::int64_t{1} << 50;  // no expiry in this test
    config_.seed = seed;
    coordinator_ = std::make_unique<GroupCoordinator>(config_);
    coordinator_->loaded(now_);
    const int clients = static_cast<int>(pick(2, 6));
    for (int i = 0; i < clients; ++i) {
      Client c;
      c.group = i % 2 == 0 ? "ga" : "gb";
      if (pick(0, 2) == 0) c.instance = fmt::format("inst{}", i);
      clients_.push_back(c);
    }
  }

  void run(int steps) {
    for (int i = 0; i < steps; ++i) step();
  }

 private:
  std::uint64_t pick(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  [[noreturn]] void fail(const std::string& what) {
    throw Failure{fmt::format("seed {} at t={}: {}", seed_, now_, what)};
  }

  void trace(const std::string& line) {
    if (trace_) fmt::print(stderr, "t={} {}\n", now_, line);
  }

  GroupRequestId send(Client& c, const std::string& kind) {
    const GroupRequestId id = next_id_++;
    trace(fmt::format("client {} ({} {} gen {}{}) sends {} #{}", &c - clients_.data(), c.group,
                      c.member_id, c.generation, c.leader ? " leader" : "", kind, id));
    c.in_flight = id;
    c.in_flight_kind = kind;
    owner_[id] = static_cast<std::size_t>(&c - clients_.data());
    return id;
  }

  void step() {
    const auto action = pick(0, 99);
    if (action < 55) {
      client_acts(clients_[pick(0, clients_.size() - 1)]);
    } else if (action < 75) {
      now_ += static_cast<std::int64_t>(pick(0, 400));
      coordinator_->tick(now_);
    } else if (action < 98) {
      host();
    } else {
      restart();
    }
  }

  void client_acts(Client& c) {
    if (c.in_flight) return;  // one request at a time
    const std::int32_t session = 1000;
    if (c.generation < 0 || c.member_id.empty() || pick(0, 30) == 0) {
      JoinGroupRequest r;
      r.group_id = c.group;
      r.member_id = c.member_id;
      r.group_instance_id = c.instance;
      r.session_timeout_ms = session;
      r.rebalance_timeout_ms = 2000;
      r.protocol_type = "consumer";
      r.protocols = {{"range", {std::byte{1}}}};
      r.api_version = 5;
      r.client_id = "c";
      coordinator_->join_group(send(c, "join"), r, now_);
      return;
    }
    if (!c.synced) {
      SyncGroupRequest r;
      r.group_id = c.group;
      r.generation_id = c.generation;
      r.member_id = c.member_id;
      r.group_instance_id = c.instance;
      if (c.leader) {
        // Partition p of 12 goes to member p % n: disjoint by construction.
        auto& given = leader_assignment_[{c.group, c.generation, c.member_id}];
        given.clear();
        for (std::size_t m = 0; m < c.members.size(); ++m) {
          std::vector<std::byte> a;
          for (std::size_t p = m; p < 12; p += c.members.size()) a.push_back(std::byte(p));
          r.assignments.push_back({c.members[m].member_id, a});
          given.push_back({c.members[m].member_id, c.members[m].group_instance_id, a});
        }
      }
      coordinator_->sync_group(send(c, "sync"), r, now_);
      return;
    }
    const auto what = pick(0, 9);
    if (what < 5) {
      const KafkaError e =
          coordinator_->heartbeat({c.group, c.generation, c.member_id, c.instance}, now_);
      if (e == KafkaError::rebalance_in_progress) c.generation = -1, c.synced = false;  // rejoin
      if (e == KafkaError::unknown_member_id || e == KafkaError::fenced_instance_id) forget(c);
      if (e == KafkaError::illegal_generation) c.generation = -1, c.synced = false;
    } else if (what < 8) {
      OffsetCommitRequest r;
      r.group_id = c.group;
      r.generation_id = c.generation;
      r.member_id = c.member_id;
      r.group_instance_id = c.instance;
      const std::int32_t partition = static_cast<std::int32_t>(pick(0, 2));
      const std::int64_t offset = c.next_offset++ * 100 + static_cast<std::int64_t>(pick(0, 99));
      r.topics = {{"t", {{partition, offset, -1, std::nullopt}}}};
      const GroupRequestId id = send(c, "commit");
      issued_[{c.group, partition}].push_back(offset);
      commit_of_[id] = {c.group, partition, offset};
      coordinator_->offset_commit(id, r, now_);
    } else if (what < 9) {
      coordinator_->leave_group({c.group, {{c.member_id, c.instance}}}, now_);
      trace(fmt::format("client {} leaves", &c - clients_.data()));
      forget(c);
    } else {
      trace(fmt::format("client {} crashes", &c - clients_.data()));
      forget(c);  // a crash: no LeaveGroup; its session runs out
    }
  }

  void forget(Client& c) {
    c.member_id.clear();
    c.generation = -1;
    c.synced = false;
    c.leader = false;
  }

  void host() {
    if (!coordinator_->has_ready()) return;
    GroupReady ready = coordinator_->ready();
    for (GroupResponse& r : ready.responses) deliver(r);
    if (!ready.records.empty()) {
      const bool ok = pick(0, 9) != 0;
      if (ok) {
        for (GroupRecord& rec : ready.records) durable_.push_back(std::move(rec));
      }
      coordinator_->advance(ok ? Status() : Status::io_error("injected"), now_);
    }
    if (!coordinator_->has_ready()) check_offsets_visible();
  }

  void deliver(const GroupResponse& r) {
    if (!answered_.insert(r.request_id).second)
      fail(fmt::format("request {} answered twice", r.request_id));
    auto it = owner_.find(r.request_id);
    if (it == owner_.end()) fail(fmt::format("an answer to request {}, never made", r.request_id));
    Client& c = clients_[it->second];
    std::visit(
        [&](const auto& b) {
          using T = std::decay_t<decltype(b)>;
          std::string extra;
          if constexpr (std::is_same_v<T, JoinGroupResponse>) {
            extra = fmt::format(" gen {} leader {} member {} members {}", b.generation_id, b.leader,
                                b.member_id, b.members.size());
          } else if constexpr (std::is_same_v<T, SyncGroupResponse>) {
            extra = fmt::format(" {} bytes", b.assignment.size());
          }
          if constexpr (std::is_same_v<T, JoinGroupResponse> ||
                        std::is_same_v<T, SyncGroupResponse>) {
            trace(fmt::format("  #{} -> client {}: {}{}", r.request_id, it->second,
                              to_string(b.error_code), extra));
          }
        },
        r.body);
    if (c.in_flight != r.request_id) return;  // answered after the client gave up on it
    c.in_flight.reset();
    if (const auto* j = std::get_if<JoinGroupResponse>(&r.body)) {
      if (j->error_code == KafkaError::member_id_required) {
        c.member_id = j->member_id;
        return;
      }
      if (j->error_code != KafkaError::none) {
        if (j->error_code == KafkaError::unknown_member_id ||
            j->error_code == KafkaError::fenced_instance_id) {
          forget(c);
        }
        return;
      }
      std::int32_t& seen = max_generation_[c.group];
      if (j->generation_id < seen) {
        fail(fmt::format("group {}: JoinGroup answered generation {} after {}", c.group,
                         j->generation_id, seen));
      }
      seen = j->generation_id;
      c.member_id = j->member_id;
      c.generation = j->generation_id;
      c.leader = j->leader == j->member_id;
      c.leader_id = j->leader;
      c.members.clear();
      c.members = j->members;
      c.synced = false;
    } else if (const auto* s = std::get_if<SyncGroupResponse>(&r.body)) {
      if (s->error_code != KafkaError::none) {
        if (s->error_code == KafkaError::unknown_member_id) forget(c);
        c.generation = -1;
        return;
      }
      // Keyed by the leader too: a client that slept through a restart may still take
      // itself for the leader of a generation number the new coordinator reused. A static
      // member keeps its instance's assignment across new member ids, and a leader replaced
      // that way never synced under its new id: then any leader of the generation that gave
      // this instance (or member) a part is the source.
      const auto part_for =
          [&](const std::vector<Given>& given) -> std::optional<std::vector<std::byte>> {
        for (const Given& x : given) {
          if (x.member_id == c.member_id || (c.instance && x.instance == c.instance))
            return x.assignment;
        }
        return std::nullopt;
      };
      std::optional<std::vector<std::byte>> want;
      if (auto a = leader_assignment_.find({c.group, c.generation, c.leader_id});
          a != leader_assignment_.end()) {
        want = part_for(a->second).value_or(std::vector<std::byte>{});
      } else {
        for (const auto& [key, given] : leader_assignment_) {
          if (std::get<0>(key) != c.group || std::get<1>(key) != c.generation) continue;
          if (auto p = part_for(given); p && *p == s->assignment) want = p;
        }
      }
      if (!want) {
        fail(fmt::format("{} got an assignment for generation {} no leader sent", c.member_id,
                         c.generation));
      }
      if (s->assignment != *want) {
        fail(fmt::format("{} (generation {}) got {} bytes of assignment, its leader gave {}",
                         c.member_id, c.generation, s->assignment.size(), want->size()));
      }
      c.synced = true;
    } else if (const auto* o = std::get_if<OffsetCommitResponse>(&r.body)) {
      const auto [group, partition, offset] = commit_of_.at(r.request_id);
      auto& issued = issued_[{group, partition}];
      if (o->topics.at(0).partitions.at(0).error_code == KafkaError::none) {
        acked_[{group, partition}] = offset;
        // What was issued before this one is no longer a legal outcome of a restart.
        issued.erase(issued.begin(), std::find(issued.begin(), issued.end(), offset));
      } else {
        issued.erase(std::remove(issued.begin(), issued.end(), offset), issued.end());
      }
    }
  }

  // With every answer delivered, OffsetFetch returns the last acknowledged commits.
  void check_offsets_visible() {
    for (const auto& [key, offset] : acked_) {
      auto got = coordinator_->committed_offset(key.first, "t", key.second);
      if (!got || *got != offset) {
        // A commit applied whose answer is still queued would also be legal; none is, here.
        fail(fmt::format("{} t/{}: fetched {} after acknowledging {}", key.first, key.second,
                         got ? std::to_string(*got) : "nothing", offset));
      }
    }
  }

  void restart() {
    // A restart takes time (and member ids are drawn from the seed and the load time).
    now_ += 1 + static_cast<std::int64_t>(pick(0, 500));
    trace("restart");
    coordinator_ = std::make_unique<GroupCoordinator>(config_);
    for (const GroupRecord& r : durable_) {
      std::optional<ByteSpan> value;
      if (r.value) value = ByteSpan(*r.value);
      Status st = coordinator_->replay(r.key, value);
      if (!st.ok()) fail("replay: " + st.to_string());
    }
    coordinator_->loaded(now_);
    max_generation_.clear();
    for (Client& c : clients_) c.in_flight.reset();  // the connections broke
    for (auto& [key, offset] : acked_) {
      auto got = coordinator_->committed_offset(key.first, "t", key.second);
      const auto& issued = issued_[key];
      const bool later = got && std::find(issued.begin(), issued.end(), *got) != issued.end();
      if (!got || (*got != offset && !later)) {
        fail(fmt::format("after a restart {} t/{} is {}; acknowledged {}", key.first, key.second,
                         got ? std::to_string(*got) : "nothing", offset));
      }
      if (got) offset = *got;  // what the coordinator now serves is the new baseline
    }
  }

  std::mt19937_64 rng_;
  std::uint64_t seed_;
  bool trace_ = false;
  GroupCoordinatorConfig config_;
  std::unique_ptr<GroupCoordinator> coordinator_;
  std::int64_t now_ = 1'000'000;
  std::vector<Client> clients_;
  GroupRequestId next_id_ = 1;
  std::map<GroupRequestId, std::size_t> owner_;
  std::set<GroupRequestId> answered_;
  std::vector<GroupRecord> durable_;
  std::map<std::string, std::int32_t> max_generation_;
  std::map<std::tuple<std::string, std::int32_t, std::string>, std::vector<Given>>
      leader_assignment_;
  std::map<GroupRequestId, std::tuple<std::string, std::int32_t, std::int64_t>> commit_of_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> acked_;
  std::map<std::pair<std::string, std::int32_t>, std::vector<std::int64_t>> issued_;
};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("GroupCoordinator under seeded random schedules keeps its promises", "[group][sim]") {
  const std::uint64_t one = env_number("SAMSA_GROUP_SIM_SEED", 0);
  const std::uint64_t first = one ? one : 1;
  const std::uint64_t count = one ? 1 : env_number("SAMSA_GROUP_SIM_SEEDS", 300);
  std::uint64_t failed = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    try {
      Sim sim(seed, one != 0 && std::getenv("SAMSA_GROUP_SIM_TRACE") != nullptr);
      sim.run(3000);
    } catch (const Failure& f) {
      ++failed;
      FAIL_CHECK(f.what << " (replay: SAMSA_GROUP_SIM_SEED=" << seed << ")");
    }
  }
  CHECK(failed == 0);
}
