// GroupCoordinator scenarios as data-driven scripts (tests/testdata/group/*.txt), and unit
// tests of the __consumer_offsets record schemas and Kafka's group-to-partition hash.
//
// The harness is one coordinator over an in-memory partition: `ready` takes a Ready and
// prints it (records decoded, responses formatted); `advance` reports the append's outcome
// (records then count as durable, and `restart` replays exactly those). Member ids are
// long ("<client>-<uuid>"): the harness names each new one m1, m2, ... in the order it
// first appears, prints the names and accepts them in commands.
//
// Commands (time only moves with tick):
//   new [initial_delay=MS] [max_size=N] [retention=MS] [check_interval=MS] [seed=S]
//   load                                  loaded(now) after replaying the durable records
//   restart                               a new coordinator replays the durable records
//   tick ms=MS                            time passes, then tick(now)
//   join id=R group=G [member=M] [instance=I] [session=MS] [rebalance=MS] [type=T]
//        [protocols=(p1,p2)] [meta=X] [v=V] [client=C]
//   sync id=R group=G gen=N member=M [instance=I] [assign=(m1:a,m2:b)] [type=T] [proto=P]
//   heartbeat group=G gen=N member=M [instance=I]
//   leave group=G members=(m1,m2) | leave group=G instance=I
//   commit id=R group=G [gen=N] [member=M] offsets=(t/0=5,t/1=7) [meta=X] [retention=MS]
//   fetch group=G [parts=(t/0,t/1)]       no parts: every committed offset
//   offset-delete id=R group=G parts=(t/0)
//   delete id=R groups=(g1,g2)
//   list [states=(Stable)] | describe groups=(g1)
//   ready                                 prints "record ..." and "resp R ..." lines
//   advance [error=io_error|no_space|record_too_large]
//   deliver                               ready + advance (ok) until nothing is left
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "datadriven.h"
#include "samsa/group_coordinator.h"
#include "samsa/group_records.h"

using namespace samsa;
using namespace samsa::test;

namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  auto b = as_bytes(s);
  return {b.begin(), b.end()};
}
std::string str_of(const std::vector<std::byte>& b) {
  return std::string(as_chars(b));
}

class Script {
 public:
  std::string run(const DataCommand& cmd) {
    out_.str("");
    out_.clear();
    const std::string& c = cmd.name;
    if (c == "new") return make(cmd);
    if (!gc_) throw DataError{"no coordinator: start the script with `new`"};
    if (c == "load") {
      replay_durable();
      gc_->loaded(now_);
    } else if (c == "restart") {
      make_coordinator();
      replay_durable();
      gc_->loaded(now_);
      out_ << fmt::format("replayed {} records\n", gc_->counters().records_replayed);
    } else if (c == "tick") {
      now_ += cmd.num("ms");
      gc_->tick(now_);
    } else if (c == "join") {
      join(cmd);
    } else if (c == "sync") {
      sync(cmd);
    } else if (c == "heartbeat") {
      HeartbeatRequest r{cmd.str("group"), static_cast<std::int32_t>(cmd.num("gen")),
                         member(cmd.str("member")), opt(cmd, "instance")};
      out_ << fmt::format("{}\n", to_string(gc_->heartbeat(r, now_)));
    } else if (c == "leave") {
      leave(cmd);
    } else if (c == "commit") {
      commit(cmd);
    } else if (c == "fetch") {
      fetch(cmd);
    } else if (c == "offset-delete") {
      OffsetDeleteRequest r;
      r.group_id = cmd.str("group");
      r.topics = topics_of(cmd.list("parts"));
      gc_->offset_delete(static_cast<GroupRequestId>(cmd.num("id")), r, now_);
    } else if (c == "delete") {
      gc_->delete_groups(static_cast<GroupRequestId>(cmd.num("id")), cmd.list("groups"), now_);
    } else if (c == "list") {
      for (const ListedGroup& g : gc_->list_groups(cmd.list("states"))) {
        out_ << fmt::format("{} type={} state={}\n", g.group_id, g.protocol_type, g.group_state);
      }
    } else if (c == "describe") {
      describe(cmd);
    } else if (c == "ready") {
      take_ready();
    } else if (c == "advance") {
      advance(cmd.str("error", "ok"));
    } else if (c == "deliver") {
      for (int i = 0; i < 100 && gc_->has_ready(); ++i) {
        const bool had_records = take_ready();
        if (had_records) advance("ok");
      }
    } else {
      throw DataError{"unknown command " + c};
    }
    return out_.str();
  }

 private:
  std::string make(const DataCommand& cmd) {
    config_ = GroupCoordinatorConfig{};
    config_.initial_rebalance_delay_ms = static_cast<std::int32_t>(cmd.num("initial_delay", 0));
    config_.max_group_size = static_cast<std::int32_t>(cmd.num("max_size", 1000));
    config_.offsets_retention_ms = cmd.num("retention", config_.offsets_retention_ms);
    config_.offsets_retention_check_interval_ms =
        cmd.num("check_interval", config_.offsets_retention_check_interval_ms);
    config_.seed = static_cast<std::uint64_t>(cmd.num("seed", 1));
    durable_.clear();
    in_flight_.clear();
    make_coordinator();
    return "";
  }
  void make_coordinator() { gc_ = std::make_unique<GroupCoordinator>(config_); }
  void replay_durable() {
    for (const GroupRecord& r : durable_) {
      std::optional<ByteSpan> value;
      if (r.value) value = ByteSpan(*r.value);
      Status st = gc_->replay(r.key, value);
      if (!st.ok()) throw DataError{"replay: " + st.to_string()};
    }
  }

  static std::optional<std::string> opt(const DataCommand& cmd, std::string_view key) {
    if (!cmd.has(key)) return std::nullopt;
    return cmd.str(key);
  }
  // An alias (m1) to its member id; anything else is taken as it is.
  std::string member(const std::string& name) const {
    auto it = by_alias_.find(name);
    return it == by_alias_.end() ? name : it->second;
  }
  std::string alias(const std::string& id) {
    if (id.empty()) return "\"\"";
    // Only generated ids ("<prefix>-<36-char uuid>") get names; others print as they are.
    if (id.size() < 37 || id[id.size() - 37] != '-') return id;
    auto it = aliases_.find(id);
    if (it != aliases_.end()) return it->second;
    const std::string a = fmt::format("m{}", aliases_.size() + 1);
    aliases_[id] = a;
    by_alias_[a] = id;
    return a;
  }
  static std::vector<OffsetFetchTopic> topics_of(const std::vector<std::string>& parts) {
    std::vector<OffsetFetchTopic> out;
    for (const std::string& tp : parts) {
      const auto slash = tp.find('/');
      if (slash == std::string::npos) throw DataError{"want topic/partition, got " + tp};
      const std::string topic = tp.substr(0, slash);
      if (out.empty() || out.back().name != topic) out.push_back({topic, {}});
      out.back().partition_indexes.push_back(std::stoi(tp.substr(slash + 1)));
    }
    return out;
  }

  void join(const DataCommand& cmd) {
    JoinGroupRequest r;
    r.group_id = cmd.str("group");
    r.member_id = cmd.has("member") ? member(cmd.str("member")) : "";
    r.group_instance_id = opt(cmd, "instance");
    r.session_timeout_ms = static_cast<std::int32_t>(cmd.num("session", 10000));
    r.rebalance_timeout_ms = static_cast<std::int32_t>(cmd.num("rebalance", 30000));
    r.protocol_type = cmd.str("type", "consumer");
    r.client_id = cmd.str("client", "c");
    r.client_host = "/127.0.0.1";
    r.api_version = static_cast<std::int16_t>(cmd.num("v", 5));
    const std::string meta = cmd.str("meta", r.client_id);
    std::vector<std::string> protocols = cmd.list("protocols");
    if (protocols.empty() && !cmd.has("protocols")) protocols = {"range"};
    for (const std::string& p : protocols) r.protocols.push_back({p, bytes_of(meta)});
    gc_->join_group(static_cast<GroupRequestId>(cmd.num("id")), r, now_);
  }

  void sync(const DataCommand& cmd) {
    SyncGroupRequest r;
    r.group_id = cmd.str("group");
    r.generation_id = static_cast<std::int32_t>(cmd.num("gen"));
    r.member_id = member(cmd.str("member"));
    r.group_instance_id = opt(cmd, "instance");
    r.protocol_type = opt(cmd, "type");
    r.protocol_name = opt(cmd, "proto");
    for (const std::string& a : cmd.list("assign")) {
      const auto colon = a.find(':');
      if (colon == std::string::npos) throw DataError{"want member:assignment, got " + a};
      r.assignments.push_back({member(a.substr(0, colon)), bytes_of(a.substr(colon + 1))});
    }
    gc_->sync_group(static_cast<GroupRequestId>(cmd.num("id")), r, now_);
  }

  void leave(const DataCommand& cmd) {
    LeaveGroupRequest r;
    r.group_id = cmd.str("group");
    for (const std::string& m : cmd.list("members")) r.members.push_back({member(m), {}});
    if (cmd.has("instance")) r.members.push_back({"", cmd.str("instance")});
    const LeaveGroupResponse resp = gc_->leave_group(r, now_);
    out_ << to_string(resp.error_code);
    for (const LeaveGroupMemberResponse& m : resp.members) {
      out_ << fmt::format(
          " {}={}", m.member_id.empty() ? m.group_instance_id.value_or("?") : alias(m.member_id),
          to_string(m.error_code));
    }
    out_ << "\n";
  }

  void commit(const DataCommand& cmd) {
    OffsetCommitRequest r;
    r.group_id = cmd.str("group");
    r.generation_id = static_cast<std::int32_t>(cmd.num("gen", -1));
    r.member_id = cmd.has("member") ? member(cmd.str("member")) : "";
    r.group_instance_id = opt(cmd, "instance");
    r.retention_time_ms = cmd.num("retention", -1);
    for (const std::string& o : cmd.list("offsets")) {
      const auto slash = o.find('/');
      const auto eq = o.find('=');
      if (slash == std::string::npos || eq == std::string::npos) {
        throw DataError{"want topic/partition=offset, got " + o};
      }
      const std::string topic = o.substr(0, slash);
      if (r.topics.empty() || r.topics.back().name != topic) r.topics.push_back({topic, {}});
      OffsetCommitPartition p;
      p.partition_index = std::stoi(o.substr(slash + 1, eq - slash - 1));
      p.committed_offset = std::stoll(o.substr(eq + 1));
      p.committed_metadata = opt(cmd, "meta");
      if (cmd.has("meta_bytes")) p.committed_metadata = std::string(cmd.num("meta_bytes"), 'x');
      r.topics.back().partitions.push_back(p);
    }
    gc_->offset_commit(static_cast<GroupRequestId>(cmd.num("id")), r, now_);
  }

  void fetch(const DataCommand& cmd) {
    OffsetFetchRequest r;
    r.group_id = cmd.str("group");
    if (cmd.has("parts")) r.topics = topics_of(cmd.list("parts"));
    const OffsetFetchResponse resp = gc_->offset_fetch(r);
    out_ << to_string(resp.error_code);
    for (const auto& t : resp.topics) {
      for (const auto& p : t.partitions) {
        out_ << fmt::format(" {}/{}={}", t.name, p.partition_index, p.committed_offset);
        if (p.metadata && !p.metadata->empty()) out_ << fmt::format("({})", *p.metadata);
      }
    }
    out_ << "\n";
  }

  void describe(const DataCommand& cmd) {
    for (const DescribedGroup& d : gc_->describe_groups(cmd.list("groups"))) {
      out_ << fmt::format("{} {} state={} type={} proto={}", d.group_id, to_string(d.error_code),
                          d.group_state, d.protocol_type, d.protocol_data);
      for (const DescribedGroupMember& m : d.members) {
        out_ << fmt::format(" {}", alias(m.member_id));
        if (m.group_instance_id) out_ << fmt::format("[{}]", *m.group_instance_id);
        if (!m.member_assignment.empty()) out_ << fmt::format(":{}", str_of(m.member_assignment));
      }
      out_ << "\n";
    }
  }

  std::string describe_record(const GroupRecord& r) {
    auto key = decode_group_key(r.key);
    if (!key.ok()) throw DataError{"record key: " + key.status().to_string()};
    if (const auto* ok = std::get_if<OffsetCommitKey>(&*key)) {
      if (!r.value)
        return fmt::format("offset {} {}/{} tombstone", ok->group, ok->topic, ok->partition);
      auto v = decode_offset_commit_value(*r.value);
      if (!v.ok()) throw DataError{"offset value: " + v.status().to_string()};
      return fmt::format(
          "offset {} {}/{}={} epoch={} meta={:?} at={}{}", ok->group, ok->topic, ok->partition,
          v->offset, v->leader_epoch, v->metadata, v->commit_timestamp,
          v->expire_timestamp >= 0 ? fmt::format(" expire={}", v->expire_timestamp) : "");
    }
    const auto& gk = std::get<GroupMetadataKey>(*key);
    if (!r.value) return fmt::format("group {} tombstone", gk.group);
    auto v = decode_group_metadata_value(*r.value);
    if (!v.ok()) throw DataError{"group value: " + v.status().to_string()};
    std::string s = fmt::format("group {} gen={} type={} proto={} leader={}", gk.group,
                                v->generation, v->protocol_type, v->protocol.value_or("-"),
                                v->leader ? alias(*v->leader) : "-");
    for (const GroupMemberMetadata& m : v->members) {
      s += fmt::format(" {}", alias(m.member_id));
      if (m.group_instance_id) s += fmt::format("[{}]", *m.group_instance_id);
      s += fmt::format(":{}", str_of(m.assignment));
    }
    return s;
  }

  std::string describe_response(const GroupResponse& r) {
    return std::visit(
        [&](const auto& b) -> std::string {
          using T = std::decay_t<decltype(b)>;
          if constexpr (std::is_same_v<T, JoinGroupResponse>) {
            std::string s = fmt::format("join {}", to_string(b.error_code));
            if (!b.member_id.empty()) s += fmt::format(" member={}", alias(b.member_id));
            if (b.error_code == KafkaError::none) {
              s += fmt::format(" gen={} proto={} leader={}", b.generation_id,
                               b.protocol_name.value_or("-"), alias(b.leader));
              if (!b.members.empty()) {
                s += " members=(";
                for (std::size_t i = 0; i < b.members.size(); ++i) {
                  s += (i ? "," : "") + alias(b.members[i].member_id);
                }
                s += ")";
              }
            }
            return s;
          } else if constexpr (std::is_same_v<T, SyncGroupResponse>) {
            std::string s = fmt::format("sync {}", to_string(b.error_code));
            if (b.error_code == KafkaError::none) {
              s += fmt::format(" proto={} assignment={:?}", b.protocol_name.value_or("-"),
                               str_of(b.assignment));
            }
            return s;
          } else if constexpr (std::is_same_v<T, OffsetCommitResponse>) {
            std::string s = "commit";
            for (const auto& t : b.topics) {
              for (const auto& p : t.partitions) {
                s += fmt::format(" {}/{}={}", t.name, p.partition_index, to_string(p.error_code));
              }
            }
            return s;
          } else if constexpr (std::is_same_v<T, DeleteGroupsResponse>) {
            std::string s = "delete";
            for (const auto& g : b.results)
              s += fmt::format(" {}={}", g.group_id, to_string(g.error_code));
            return s;
          } else {
            std::string s = fmt::format("offset-delete {}", to_string(b.error_code));
            for (const auto& t : b.topics) {
              for (const auto& p : t.partitions) {
                s += fmt::format(" {}/{}={}", t.name, p.partition_index, to_string(p.error_code));
              }
            }
            return s;
          }
        },
        r.body);
  }

  bool take_ready() {
    GroupReady ready = gc_->ready();
    for (const GroupResponse& r : ready.responses) {
      out_ << fmt::format("resp {} {}\n", r.request_id, describe_response(r));
    }
    for (const GroupRecord& r : ready.records) out_ << "record " << describe_record(r) << "\n";
    const bool had = !ready.records.empty();
    if (had) in_flight_ = std::move(ready.records);
    return had;
  }

  void advance(const std::string& error) {
    Status st;
    if (error == "io_error") {
      st = Status::io_error("injected");
    } else if (error == "no_space") {
      st = Status::no_space("injected");
    } else if (error == "record_too_large") {
      st = Status(StatusCode::record_too_large, "injected");
    } else if (error != "ok") {
      throw DataError{"unknown error " + error};
    }
    if (st.ok()) {
      for (GroupRecord& r : in_flight_) durable_.push_back(std::move(r));
    }
    in_flight_.clear();
    gc_->advance(st, now_);
    // What the advance released is printed by the next ready; say it is there.
    if (gc_->has_ready()) out_ << "(ready)\n";
  }

  GroupCoordinatorConfig config_;
  std::unique_ptr<GroupCoordinator> gc_;
  std::int64_t now_ = 1000000;
  std::vector<GroupRecord> durable_;
  std::vector<GroupRecord> in_flight_;
  std::map<std::string, std::string> aliases_;   // member id -> m1
  std::map<std::string, std::string> by_alias_;  // m1 -> member id
  std::ostringstream out_;
};

}  // namespace

TEST_CASE("GroupCoordinator scenarios (tests/testdata/group/*.txt)", "[group][datadriven]") {
  run_data_dir("group", [] {
    auto script = std::make_shared<Script>();
    return [script](const DataCommand& cmd) { return script->run(cmd); };
  });
}

TEST_CASE("__consumer_offsets records round-trip in Kafka's schemas", "[group]") {
  // OffsetCommitKey v1: version, group, topic, partition (hand-built bytes).
  const std::vector<std::byte> key = encode_group_key(OffsetCommitKey{"g", "t", 3});
  const std::vector<std::uint8_t> want_key = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3};
  REQUIRE(key.size() == want_key.size());
  for (std::size_t i = 0; i < key.size(); ++i)
    CHECK(static_cast<std::uint8_t>(key[i]) == want_key[i]);

  OffsetCommitValue v{42, 7, "meta", 1700000000000, -1};
  const auto bytes = encode_group_value(v);
  CHECK(static_cast<std::uint8_t>(bytes[1]) == 3);  // v3 without an expire timestamp
  auto back = decode_offset_commit_value(bytes);
  REQUIRE(back.ok());
  CHECK(*back == v);
  v.expire_timestamp = 1800000000000;
  const auto v1 = encode_group_value(v);
  CHECK(static_cast<std::uint8_t>(v1[1]) == 1);
  auto back1 = decode_offset_commit_value(v1);
  REQUIRE(back1.ok());
  CHECK(back1->expire_timestamp == v.expire_timestamp);
  CHECK(back1->leader_epoch == -1);  // v1 has no leader epoch

  GroupMetadataValue g;
  g.protocol_type = "consumer";
  g.generation = 5;
  g.protocol = "range";
  g.leader = "a";
  g.current_state_timestamp = 99;
  g.members.push_back(
      {"a", "inst", "client", "/1.2.3.4", 30000, 10000, bytes_of("sub"), bytes_of("asg")});
  auto gb = decode_group_metadata_value(encode_group_value(g));
  REQUIRE(gb.ok());
  CHECK(*gb == g);

  auto k = decode_group_key(encode_group_key(GroupMetadataKey{"grp"}));
  REQUIRE(k.ok());
  CHECK(std::get<GroupMetadataKey>(*k).group == "grp");
}

TEST_CASE("__consumer_offsets records that do not parse name the field and byte", "[group]") {
  auto bytes = encode_group_value(OffsetCommitValue{1, 0, "abc", 5, -1});
  bytes.resize(bytes.size() - 3);  // cut into commitTimestamp
  auto r = decode_offset_commit_value(bytes);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::corruption);
  CHECK(r.status().to_string().find("OffsetCommitValue.commitTimestamp at byte") !=
        std::string::npos);

  GroupMetadataValue g;
  g.protocol_type = "consumer";
  g.members.push_back({"a", {}, "c", "h", 1, 1, {}, {}});
  auto gb = encode_group_value(g);
  // members array length (after version 2, type 2+8, generation 4, two null strings 2+2,
  // timestamp 8) set to 1,000,000: more than the bytes left.
  const std::size_t at = 2 + 2 + 8 + 4 + 2 + 2 + 8;
  gb[at] = std::byte{0x00};
  gb[at + 1] = std::byte{0x0F};
  gb[at + 2] = std::byte{0x42};
  gb[at + 3] = std::byte{0x40};
  auto gr = decode_group_metadata_value(gb);
  REQUIRE(!gr.ok());
  CHECK(gr.status().to_string().find("GroupMetadataValue.members at byte 28") != std::string::npos);

  auto unknown = decode_offset_commit_value(std::vector<std::byte>{std::byte{0}, std::byte{9}});
  REQUIRE(!unknown.ok());
  CHECK(unknown.status().to_string().find("unknown version 9") != std::string::npos);

  auto other = decode_group_key(std::vector<std::byte>{std::byte{0}, std::byte{5}, std::byte{0}});
  REQUIRE(other.ok());
  CHECK(std::holds_alternative<OtherGroupKey>(*other));
}

TEST_CASE("group_partition is Kafka's abs(String.hashCode) % partitions", "[group]") {
  // Java: "my-group".hashCode() == -1906497762 (negative: abs first), % 50 == 12;
  // "console-consumer-12345".hashCode() == 158455506, % 50 == 6; "".hashCode() == 0.
  CHECK(group_partition("my-group", 50) == 12);
  CHECK(group_partition("console-consumer-12345", 50) == 6);
  CHECK(group_partition("", 50) == 0);
  // Outside the BMP: U+1F600 is the surrogate pair D83D DE00 in Java's UTF-16:
  // 0xD83D * 31 + 0xDE00 == 1772899.
  CHECK(group_partition("\xF0\x9F\x98\x80", 10000000) == 1772899);
}

TEST_CASE("consumer protocol subscriptions and assignments parse", "[group]") {
  // ConsumerProtocolSubscription v0: version, topics ["a", "bc"], user data (null).
  const std::vector<std::uint8_t> sub = {0, 0, 0,   0,   0,    2,    0,    1,   'a',
                                         0, 2, 'b', 'c', 0xFF, 0xFF, 0xFF, 0xFF};
  std::vector<std::byte> sb(sub.size());
  for (std::size_t i = 0; i < sub.size(); ++i) sb[i] = std::byte{sub[i]};
  auto topics = consumer_subscription_topics(sb);
  REQUIRE(topics);
  CHECK(*topics == std::vector<std::string>{"a", "bc"});
  // ConsumerProtocolAssignment v0: version, [("t", [0, 3])], user data (null).
  const std::vector<std::uint8_t> asg = {0, 0, 0, 0, 0, 1, 0, 1, 't',  0,    0,    0,   2,
                                         0, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF};
  std::vector<std::byte> ab(asg.size());
  for (std::size_t i = 0; i < asg.size(); ++i) ab[i] = std::byte{asg[i]};
  auto parts = consumer_assignment_partitions(ab);
  REQUIRE(parts);
  REQUIRE(parts->size() == 1);
  CHECK((*parts)[0].topic == "t");
  CHECK((*parts)[0].partitions == std::vector<std::int32_t>{0, 3});
  // Not a consumer protocol: nullopt, not a guess.
  CHECK(!consumer_assignment_partitions(bytes_of("xy")));
  // A topic count the bytes cannot hold.
  std::vector<std::byte> huge = sb;
  huge[2] = std::byte{0x7f};
  huge[3] = huge[4] = huge[5] = std::byte{0xff};
  CHECK(!consumer_subscription_topics(huge));
}
