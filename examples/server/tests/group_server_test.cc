// The consumer-group APIs end to end over a socket with hand-built requests: FindCoordinator,
// the join/sync/heartbeat/leave protocol, offset commit and fetch, the admin APIs, and the
// durability of committed offsets across a kill -9 of a samsa-server child process.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "codec/wire.h"
#include "tests/test_client.h"

namespace samsa_server {
namespace {

using testing::Client;
using testing::RequestBuilder;
using testing::TestServer;

constexpr std::int16_t kFindCoordinator = 10;
constexpr std::int16_t kOffsetCommit = 8;
constexpr std::int16_t kOffsetFetch = 9;
constexpr std::int16_t kJoinGroup = 11;
constexpr std::int16_t kHeartbeat = 12;
constexpr std::int16_t kLeaveGroup = 13;
constexpr std::int16_t kSyncGroup = 14;
constexpr std::int16_t kDescribeGroups = 15;
constexpr std::int16_t kListGroups = 16;
constexpr std::int16_t kDeleteGroups = 42;
constexpr std::int16_t kOffsetDelete = 47;

// Kafka's error codes (Errors.java) that these tests expect.
constexpr std::int16_t kNone = 0;
constexpr std::int16_t kOffsetMetadataTooLarge = 12;
constexpr std::int16_t kCoordinatorNotAvailable = 15;
constexpr std::int16_t kInvalidTopic = 17;
constexpr std::int16_t kIllegalGeneration = 22;
constexpr std::int16_t kInconsistentProtocol = 23;
constexpr std::int16_t kInvalidGroupId = 24;
constexpr std::int16_t kUnknownMemberId = 25;
constexpr std::int16_t kInvalidSessionTimeout = 26;
constexpr std::int16_t kRebalanceInProgress = 27;
constexpr std::int16_t kInvalidRequest = 42;
constexpr std::int16_t kNonEmptyGroup = 68;
constexpr std::int16_t kGroupIdNotFound = 69;
constexpr std::int16_t kMemberIdRequired = 79;

constexpr std::int32_t kSessionTimeoutMs = 10000;

ServerOptions group_options() {
  ServerOptions o = TestServer::defaults();
  o.offsets_partitions = 3;
  o.groups.initial_rebalance_delay_ms = 0;
  return o;
}

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::string string_of(MutableByteSpan b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Sends a frame and returns a reader positioned after the correlation id (which is checked).
testing::ResponseReader call(Client& c, RequestBuilder& b, std::int32_t correlation_id) {
  c.send(b.frame());
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  REQUIRE(rr.r.i32() == correlation_id);
  return rr;
}
testing::ResponseReader receive(Client& c, std::int32_t correlation_id) {
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  REQUIRE(rr.r.i32() == correlation_id);
  return rr;
}

// --- FindCoordinator
struct Coordinator {
  std::int16_t error = -100;
  std::int32_t node_id = -100;
  std::string host;
  std::int32_t port = -100;
};

Coordinator find_coordinator(Client& c, std::int16_t version, const std::string& key,
                             std::int8_t key_type = 0) {
  RequestBuilder b(kFindCoordinator, version, 3);
  b.body().string(key);
  if (version >= 1) b.body().i8(key_type);
  auto rr = call(c, b, 3);
  Reader& r = rr.r;
  if (version >= 1) (void)r.i32();  // throttle
  Coordinator out;
  out.error = r.i16();
  if (version >= 1) (void)r.nullable_string();
  out.node_id = r.i32();
  out.host = r.string();
  out.port = r.i32();
  REQUIRE(!r.failed());
  return out;
}

// --- JoinGroup
struct JoinArgs {
  std::string group;
  std::string member_id;
  std::int16_t version = 5;
  std::int32_t session_timeout_ms = kSessionTimeoutMs;
  std::string protocol_type = "consumer";
  std::string metadata = "meta";
  std::string protocol = "range";
};

struct Joined {
  std::int16_t error = -100;
  std::int32_t generation = -100;
  std::string protocol;
  std::string leader;
  std::string member_id;
  std::map<std::string, std::string> members;  // member id -> metadata
};

void send_join(Client& c, const JoinArgs& a, std::int32_t correlation_id) {
  RequestBuilder b(kJoinGroup, a.version, correlation_id);
  Writer& w = b.body();
  w.string(a.group);
  w.i32(a.session_timeout_ms);
  if (a.version >= 1) w.i32(a.session_timeout_ms);  // rebalance timeout
  w.string(a.member_id);
  if (a.version >= 5) w.nullable_string(std::nullopt);
  w.string(a.protocol_type);
  w.array_length(1);
  w.string(a.protocol);
  w.bytes(bytes_of(a.metadata));
  c.send(b.frame());
}

Joined receive_join(Client& c, std::int16_t version, std::int32_t correlation_id) {
  auto rr = receive(c, correlation_id);
  Reader& r = rr.r;
  if (version >= 2) (void)r.i32();
  Joined out;
  out.error = r.i16();
  out.generation = r.i32();
  out.protocol = r.string();
  out.leader = r.string();
  out.member_id = r.string();
  const std::int32_t n = r.array_length(6);
  for (std::int32_t i = 0; i < n && !r.failed(); ++i) {
    std::string id = r.string();
    if (version >= 5) (void)r.nullable_string();
    out.members[id] = string_of(r.bytes());
  }
  REQUIRE(!r.failed());
  return out;
}

Joined join(Client& c, const JoinArgs& a) {
  send_join(c, a, 11);
  return receive_join(c, a.version, 11);
}

// JoinGroup v5's two steps: MEMBER_ID_REQUIRED with an id, then the join with it. Only
// the first step is awaited; the second's answer is read with receive_join(c, 5, 12).
std::string send_two_step_join(Client& c, const std::string& group) {
  const Joined first = join(c, {group, ""});
  REQUIRE(first.error == kMemberIdRequired);
  REQUIRE(!first.member_id.empty());
  send_join(c, {group, first.member_id}, 12);
  return first.member_id;
}

// --- SyncGroup
void send_sync(Client& c, const std::string& group, std::int32_t generation,
               const std::string& member_id,
               const std::vector<std::pair<std::string, std::string>>& assignments,
               std::int16_t version = 3, std::int32_t correlation_id = 14) {
  RequestBuilder b(kSyncGroup, version, correlation_id);
  Writer& w = b.body();
  w.string(group);
  w.i32(generation);
  w.string(member_id);
  if (version >= 3) w.nullable_string(std::nullopt);
  w.array_length(assignments.size());
  for (const auto& [id, assignment] : assignments) {
    w.string(id);
    w.bytes(bytes_of(assignment));
  }
  c.send(b.frame());
}

std::pair<std::int16_t, std::string> receive_sync(Client& c, std::int16_t version = 3,
                                                  std::int32_t correlation_id = 14) {
  auto rr = receive(c, correlation_id);
  Reader& r = rr.r;
  if (version >= 1) (void)r.i32();
  const std::int16_t error = r.i16();
  std::string assignment = string_of(r.bytes());
  REQUIRE(!r.failed());
  return {error, assignment};
}

// --- Heartbeat
std::int16_t heartbeat(Client& c, const std::string& group, std::int32_t generation,
                       const std::string& member_id, std::int16_t version = 3) {
  RequestBuilder b(kHeartbeat, version, 21);
  Writer& w = b.body();
  w.string(group);
  w.i32(generation);
  w.string(member_id);
  if (version >= 3) w.nullable_string(std::nullopt);
  auto rr = call(c, b, 21);
  if (version >= 1) (void)rr.r.i32();
  const std::int16_t error = rr.r.i16();
  REQUIRE(!rr.r.failed());
  return error;
}

// --- OffsetCommit at v2 (retention time) or v7 (leader epoch, instance id)
struct Commit {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> metadata;
};

// Per (topic, partition) error codes.
std::map<std::pair<std::string, std::int32_t>, std::int16_t> offset_commit(
    Client& c, std::int16_t version, const std::string& group, std::int32_t generation,
    const std::string& member_id, const std::vector<Commit>& commits) {
  REQUIRE((version == 2 || version == 7));
  RequestBuilder b(kOffsetCommit, version, 31);
  Writer& w = b.body();
  w.string(group);
  w.i32(generation);
  w.string(member_id);
  if (version >= 7) w.nullable_string(std::nullopt);
  if (version == 2) w.i64(-1);     // retention: the broker's
  w.array_length(commits.size());  // one topic entry per commit
  for (const Commit& cm : commits) {
    w.string(cm.topic);
    w.array_length(1);
    w.i32(cm.partition);
    w.i64(cm.offset);
    if (version >= 6) w.i32(4);  // leader epoch
    w.nullable_string(cm.metadata);
  }
  auto rr = call(c, b, 31);
  Reader& r = rr.r;
  if (version >= 3) (void)r.i32();
  std::map<std::pair<std::string, std::int32_t>, std::int16_t> out;
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    const std::string name = r.string();
    const std::int32_t parts = r.array_length(6);
    for (std::int32_t p = 0; p < parts && !r.failed(); ++p) {
      const std::int32_t index = r.i32();
      out[{name, index}] = r.i16();
    }
  }
  REQUIRE(!r.failed());
  return out;
}

// --- OffsetFetch at v1 or v5
struct Fetched {
  std::int64_t offset = -100;
  std::int32_t leader_epoch = -100;
  std::optional<std::string> metadata;
  std::int16_t error = -100;
};
struct OffsetsFetched {
  std::int16_t error = -100;  // v2+
  std::map<std::pair<std::string, std::int32_t>, Fetched> partitions;
};

// `topics` nullopt: all (v2+).
OffsetsFetched offset_fetch(
    Client& c, std::int16_t version, const std::string& group,
    const std::optional<std::vector<std::pair<std::string, std::int32_t>>>& topics) {
  RequestBuilder b(kOffsetFetch, version, 41);
  Writer& w = b.body();
  w.string(group);
  if (!topics) {
    w.i32(-1);
  } else {
    w.array_length(topics->size());
    for (const auto& [name, p] : *topics) {
      w.string(name);
      w.array_length(1);
      w.i32(p);
    }
  }
  auto rr = call(c, b, 41);
  Reader& r = rr.r;
  if (version >= 3) (void)r.i32();
  OffsetsFetched out;
  const std::int32_t n = r.array_length(6);
  for (std::int32_t t = 0; t < n && !r.failed(); ++t) {
    const std::string name = r.string();
    const std::int32_t parts = r.array_length(16);
    for (std::int32_t p = 0; p < parts && !r.failed(); ++p) {
      const std::int32_t index = r.i32();
      Fetched f;
      f.offset = r.i64();
      if (version >= 5) f.leader_epoch = r.i32();
      f.metadata = r.nullable_string();
      f.error = r.i16();
      out.partitions[{name, index}] = f;
    }
  }
  if (version >= 2) out.error = r.i16();
  REQUIRE(!r.failed());
  return out;
}

// --- DescribeGroups v4
struct DescribedMember {
  std::string client_id;
  std::string client_host;
  std::string metadata;
  std::string assignment;
};
struct Described {
  std::int16_t error = -100;
  std::string state;
  std::string protocol_type;
  std::string protocol;
  std::map<std::string, DescribedMember> members;
};

Described describe_group(Client& c, const std::string& group) {
  RequestBuilder b(kDescribeGroups, 4, 51);
  b.body().array_length(1);
  b.body().string(group);
  b.body().boolean(false);
  auto rr = call(c, b, 51);
  Reader& r = rr.r;
  (void)r.i32();
  REQUIRE(r.array_length(2) == 1);
  Described out;
  out.error = r.i16();
  CHECK(r.string() == group);
  out.state = r.string();
  out.protocol_type = r.string();
  out.protocol = r.string();
  const std::int32_t n = r.array_length(14);
  for (std::int32_t i = 0; i < n && !r.failed(); ++i) {
    const std::string id = r.string();
    (void)r.nullable_string();
    DescribedMember m;
    m.client_id = r.string();
    m.client_host = r.string();
    m.metadata = string_of(r.bytes());
    m.assignment = string_of(r.bytes());
    out.members[id] = m;
  }
  (void)r.i32();  // authorized operations
  REQUIRE(!r.failed());
  return out;
}

// --- ListGroups v2: group id -> protocol type
std::map<std::string, std::string> list_groups(Client& c) {
  RequestBuilder b(kListGroups, 2, 61);
  auto rr = call(c, b, 61);
  Reader& r = rr.r;
  (void)r.i32();
  CHECK(r.i16() == kNone);
  std::map<std::string, std::string> out;
  const std::int32_t n = r.array_length(4);
  for (std::int32_t i = 0; i < n && !r.failed(); ++i) {
    std::string id = r.string();
    out[id] = r.string();
  }
  REQUIRE(!r.failed());
  return out;
}

// --- DeleteGroups v1: group id -> error
std::map<std::string, std::int16_t> delete_groups(Client& c,
                                                  const std::vector<std::string>& groups) {
  RequestBuilder b(kDeleteGroups, 1, 71);
  b.body().array_length(groups.size());
  for (const std::string& g : groups) b.body().string(g);
  auto rr = call(c, b, 71);
  Reader& r = rr.r;
  (void)r.i32();
  std::map<std::string, std::int16_t> out;
  const std::int32_t n = r.array_length(4);
  for (std::int32_t i = 0; i < n && !r.failed(); ++i) {
    std::string id = r.string();
    out[id] = r.i16();
  }
  REQUIRE(!r.failed());
  return out;
}

// --- LeaveGroup v3: (top-level error, member id -> error)
std::pair<std::int16_t, std::map<std::string, std::int16_t>> leave_group_v3(
    Client& c, const std::string& group, const std::vector<std::string>& members) {
  RequestBuilder b(kLeaveGroup, 3, 81);
  Writer& w = b.body();
  w.string(group);
  w.array_length(members.size());
  for (const std::string& m : members) {
    w.string(m);
    w.nullable_string(std::nullopt);
  }
  auto rr = call(c, b, 81);
  Reader& r = rr.r;
  (void)r.i32();
  const std::int16_t top = r.i16();
  std::map<std::string, std::int16_t> out;
  const std::int32_t n = r.array_length(6);
  for (std::int32_t i = 0; i < n && !r.failed(); ++i) {
    std::string id = r.string();
    (void)r.nullable_string();
    out[id] = r.i16();
  }
  REQUIRE(!r.failed());
  return {top, out};
}

std::int16_t leave_group_v0(Client& c, const std::string& group, const std::string& member) {
  RequestBuilder b(kLeaveGroup, 0, 82);
  b.body().string(group);
  b.body().string(member);
  auto rr = call(c, b, 82);
  const std::int16_t error = rr.r.i16();
  REQUIRE(!rr.r.failed());
  return error;
}

// A group with one member, stable at generation 1 with assignment "a-<member>".
struct OneMember {
  std::string member_id;
  std::int32_t generation = -1;
};
OneMember stable_group_of_one(Client& c, const std::string& group,
                              const std::string& protocol_type = "consumer",
                              const std::string& metadata = "meta") {
  const Joined first = join(c, {group, "", 5, kSessionTimeoutMs, protocol_type, metadata});
  REQUIRE(first.error == kMemberIdRequired);
  send_join(c, {group, first.member_id, 5, kSessionTimeoutMs, protocol_type, metadata}, 12);
  const Joined j = receive_join(c, 5, 12);
  REQUIRE(j.error == kNone);
  send_sync(c, group, j.generation, j.member_id, {{j.member_id, "a-" + j.member_id}});
  const auto [error, assignment] = receive_sync(c);
  REQUIRE(error == kNone);
  return {j.member_id, j.generation};
}

}  // namespace

TEST_CASE("FindCoordinatorForAGroupNamesThisNodeAtV0ToV2") {
  TestServer s(group_options());
  Client c(s.port());
  for (std::int16_t v = 0; v <= 2; ++v) {
    INFO("version " << v);
    const Coordinator found = find_coordinator(c, v, "g1");
    CHECK(found.error == kNone);
    CHECK(found.node_id == 0);
    CHECK(found.host == "127.0.0.1");
    CHECK(found.port == s.port());
  }
}

TEST_CASE("FindCoordinatorForATransactionIsNotAvailableAndAnEmptyKeyIsInvalid") {
  TestServer s(group_options());
  Client c(s.port());
  CHECK(find_coordinator(c, 1, "txn", 1).error == kCoordinatorNotAvailable);
  CHECK(find_coordinator(c, 2, "txn", 1).error == kCoordinatorNotAvailable);
  CHECK(find_coordinator(c, 0, "").error == kInvalidRequest);
  CHECK(find_coordinator(c, 2, "").error == kInvalidRequest);
}

TEST_CASE("JoinGroupV5FirstAsksForAMemberIdThenMakesTheMemberLeaderOfGeneration1") {
  TestServer s(group_options());
  Client c(s.port());
  const Joined first = join(c, {"g", ""});
  CHECK(first.error == kMemberIdRequired);
  REQUIRE(!first.member_id.empty());
  CHECK(first.generation == -1);

  const Joined second = join(c, {"g", first.member_id, 5, kSessionTimeoutMs, "consumer", "m1"});
  CHECK(second.error == kNone);
  CHECK(second.generation == 1);
  CHECK(second.protocol == "range");
  CHECK(second.member_id == first.member_id);
  CHECK(second.leader == first.member_id);
  REQUIRE(second.members.size() == 1);
  CHECK(second.members.at(first.member_id) == "m1");
}

TEST_CASE("JoinGroupV0ToV3JoinsAtOnceWithAnAssignedMemberId") {
  TestServer s(group_options());
  Client c(s.port());
  for (std::int16_t v = 0; v <= 3; ++v) {
    INFO("version " << v);
    const Joined j = join(c, {fmt::format("old-{}", v), "", v});
    CHECK(j.error == kNone);
    CHECK(!j.member_id.empty());
    CHECK(j.generation == 1);
    CHECK(j.leader == j.member_id);
    CHECK(j.members.size() == 1);
  }
}

TEST_CASE("JoinGroupRefusesBadSessionTimeoutEmptyGroupUnknownMemberAndOtherProtocolType") {
  TestServer s(group_options());
  Client c(s.port());
  CHECK(join(c, {"g", "", 5, 1000}).error == kInvalidSessionTimeout);       // under 6000
  CHECK(join(c, {"g", "", 5, 3'600'000}).error == kInvalidSessionTimeout);  // over 30 min
  CHECK(join(c, {"", "", 5}).error == kInvalidGroupId);
  CHECK(join(c, {"never-created", "consumer-bogus-id"}).error == kUnknownMemberId);

  stable_group_of_one(c, "typed");
  Client other(s.port());
  const Joined j = join(other, {"typed", "", 1, kSessionTimeoutMs, "connect"});
  CHECK(j.error == kInconsistentProtocol);
}

TEST_CASE("JoinGroupWithNoCommonProtocolOrAnUnknownMemberOfAKnownGroupIsRefused") {
  TestServer s(group_options());
  Client a(s.port());
  Client b(s.port());
  stable_group_of_one(a, "g");
  JoinArgs other{"g", "", 1};
  other.protocol = "roundrobin";
  CHECK(join(b, other).error == kInconsistentProtocol);
  CHECK(join(b, {"g", "consumer-not-a-member"}).error == kUnknownMemberId);
  CHECK(describe_group(a, "g").state == "Stable");  // neither disturbed the group
}

TEST_CASE("JoinGroupPastGroupMaxSizeIsGroupMaxSizeReached") {
  constexpr std::int16_t kGroupMaxSizeReached = 81;
  ServerOptions o = group_options();
  o.groups.max_group_size = 2;
  TestServer s(o);
  Client c1(s.port()), c2(s.port()), c3(s.port());
  // All three get a member id while the group is empty; only two fit when they join.
  const Joined p1 = join(c1, {"g", ""});
  const Joined p2 = join(c2, {"g", ""});
  const Joined p3 = join(c3, {"g", ""});
  REQUIRE(p3.error == kMemberIdRequired);
  // Three connections: the request threads take them in no fixed order, so whichever
  // comes third is the one refused.
  send_join(c1, {"g", p1.member_id}, 12);
  send_join(c2, {"g", p2.member_id}, 12);
  send_join(c3, {"g", p3.member_id}, 12);
  const std::vector<Joined> answers = {receive_join(c1, 5, 12), receive_join(c2, 5, 12),
                                       receive_join(c3, 5, 12)};
  std::vector<Joined> in;
  int refused = 0;
  for (const Joined& j : answers) {
    if (j.error == kGroupMaxSizeReached) {
      ++refused;
    } else {
      CHECK(j.error == kNone);
      in.push_back(j);
    }
  }
  CHECK(refused == 1);
  REQUIRE(in.size() == 2);
  CHECK(in[0].generation == 1);
  CHECK(in[0].leader == in[1].leader);
  CHECK((in[0].leader == in[0].member_id ? in[0] : in[1]).members.size() == 2);
}

TEST_CASE("SyncGroupHandsEachMemberTheLeadersAssignmentAndRefusesAWrongGeneration") {
  TestServer s(group_options());
  Client a(s.port());
  Client b(s.port());
  const OneMember first = stable_group_of_one(a, "g");
  CHECK(heartbeat(a, "g", first.generation, first.member_id, 0) == kNone);

  // A second member: the group rebalances; the first learns it from its heartbeat.
  const std::string b_id = send_two_step_join(b, "g");
  // b's second JoinGroup is on another connection: wait (bounded) until it was handled.
  for (int i = 0; i < 500 && describe_group(a, "g").state != "PreparingRebalance"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(heartbeat(a, "g", first.generation, first.member_id, 1) == kRebalanceInProgress);
  CHECK(heartbeat(a, "g", first.generation, first.member_id, 3) == kRebalanceInProgress);
  send_join(a, {"g", first.member_id}, 12);
  const Joined ja = receive_join(a, 5, 12);
  const Joined jb = receive_join(b, 5, 12);
  REQUIRE(ja.error == kNone);
  REQUIRE(jb.error == kNone);
  CHECK(ja.generation == 2);
  CHECK(jb.generation == 2);
  CHECK(ja.leader == first.member_id);
  CHECK(jb.leader == first.member_id);
  CHECK(ja.members.size() == 2);
  CHECK(jb.members.empty());  // only the leader gets the members

  // CompletingRebalance: heartbeats are fine, commits wait for the assignment (Kafka's
  // ClassicGroup.validateOffsetCommit), and a describe shows no protocol or metadata yet.
  CHECK(heartbeat(b, "g", 2, b_id) == kNone);
  CHECK(offset_commit(a, 7, "g", 2, first.member_id, {{"t", 0, 1, ""}}).at({"t", 0}) ==
        kRebalanceInProgress);
  CHECK(offset_commit(a, 7, "g", -1, "", {{"t", 0, 1, ""}}).at({"t", 0}) == kUnknownMemberId);
  const Described completing = describe_group(a, "g");
  CHECK(completing.state == "CompletingRebalance");
  CHECK(completing.protocol.empty());
  REQUIRE(completing.members.size() == 2);
  CHECK(completing.members.at(b_id).metadata.empty());

  send_sync(b, "g", 2, b_id, {});  // waits for the leader's assignment
  send_sync(a, "g", 2, first.member_id, {{first.member_id, "for-a"}, {b_id, "for-b"}});
  CHECK(receive_sync(a) == std::pair<std::int16_t, std::string>{kNone, "for-a"});
  CHECK(receive_sync(b) == std::pair<std::int16_t, std::string>{kNone, "for-b"});

  send_sync(b, "g", 1, b_id, {});
  CHECK(receive_sync(b).first == kIllegalGeneration);
  send_sync(b, "g", 2, "consumer-unknown", {});
  CHECK(receive_sync(b).first == kUnknownMemberId);
  CHECK(heartbeat(a, "g", 2, first.member_id, 2) == kNone);
  CHECK(heartbeat(b, "g", 1, b_id) == kIllegalGeneration);
  CHECK(heartbeat(a, "g", 2, "consumer-unknown") == kUnknownMemberId);
  CHECK(offset_commit(a, 7, "g", 1, first.member_id, {{"t", 0, 1, ""}}).at({"t", 0}) ==
        kIllegalGeneration);
  CHECK(offset_commit(a, 7, "g", 2, first.member_id, {{"t", 0, 1, ""}}).at({"t", 0}) == kNone);

  const Described d = describe_group(a, "g");
  CHECK(d.error == kNone);
  CHECK(d.state == "Stable");
  CHECK(d.protocol_type == "consumer");
  CHECK(d.protocol == "range");
  REQUIRE(d.members.size() == 2);
  CHECK(d.members.at(first.member_id).assignment == "for-a");
  CHECK(d.members.at(b_id).assignment == "for-b");
  CHECK(d.members.at(b_id).metadata == "meta");
  CHECK(d.members.at(b_id).client_host == "/127.0.0.1");
}

TEST_CASE("WhenTheLeaderLeavesTheOtherMemberRejoinsAsLeaderOfTheNextGeneration") {
  TestServer s(group_options());
  Client a(s.port());
  Client b(s.port());
  const OneMember first = stable_group_of_one(a, "g");
  const std::string b_id = send_two_step_join(b, "g");
  send_join(a, {"g", first.member_id}, 12);
  const Joined ja = receive_join(a, 5, 12);
  const Joined jb = receive_join(b, 5, 12);
  REQUIRE(ja.generation == 2);
  send_sync(a, "g", 2, first.member_id, {{first.member_id, "for-a"}, {b_id, "for-b"}}, 1);
  send_sync(b, "g", 2, b_id, {}, 0);
  REQUIRE(receive_sync(a, 1) == std::pair<std::int16_t, std::string>{kNone, "for-a"});
  REQUIRE(receive_sync(b, 0) == std::pair<std::int16_t, std::string>{kNone, "for-b"});

  CHECK(leave_group_v0(a, "g", first.member_id) == kNone);
  CHECK(heartbeat(b, "g", 2, b_id) == kRebalanceInProgress);
  CHECK(describe_group(b, "g").state == "PreparingRebalance");
  send_join(b, {"g", b_id}, 12);
  const Joined again = receive_join(b, 5, 12);
  CHECK(again.error == kNone);
  CHECK(again.generation == 3);
  CHECK(again.leader == b_id);
  REQUIRE(again.members.size() == 1);
  CHECK(again.members.count(b_id) == 1);
  send_sync(b, "g", 3, b_id, {{b_id, "all-for-b"}});
  CHECK(receive_sync(b) == std::pair<std::int16_t, std::string>{kNone, "all-for-b"});
}

TEST_CASE("HeartbeatForAnUnknownMemberOrGroupIsUnknownMemberId") {
  TestServer s(group_options());
  Client c(s.port());
  for (std::int16_t v = 0; v <= 3; ++v) {
    CHECK(heartbeat(c, "nobody-here", 1, "consumer-x", v) == kUnknownMemberId);
  }
}

TEST_CASE("LeaveGroupV0RemovesTheMemberAndV3AnswersPerMember") {
  TestServer s(group_options());
  Client a(s.port());
  const OneMember one = stable_group_of_one(a, "v0");
  CHECK(leave_group_v0(a, "v0", one.member_id) == kNone);
  CHECK(describe_group(a, "v0").state == "Empty");
  CHECK(leave_group_v0(a, "v0", one.member_id) == kUnknownMemberId);

  const OneMember two = stable_group_of_one(a, "v3");
  const auto [top, members] = leave_group_v3(a, "v3", {two.member_id, "consumer-unknown"});
  // Kafka's LeaveGroupResponse v3+: member errors stay per member; the top level is the
  // request's own error only.
  CHECK(top == kNone);
  REQUIRE(members.size() == 2);
  CHECK(members.at(two.member_id) == kNone);
  CHECK(members.at("consumer-unknown") == kUnknownMemberId);
  CHECK(describe_group(a, "v3").members.empty());

  // An unknown group: the request's own error (Kafka's classicGroupLeave), no member list.
  const auto [unknown_top, unknown_members] = leave_group_v3(a, "no-such-group", {"consumer-x"});
  CHECK(unknown_top == kUnknownMemberId);
  CHECK(unknown_members.empty());
}

TEST_CASE("OffsetCommitAtV2AndV7IsReturnedByOffsetFetchAtV1AndV5") {
  TestServer s(group_options());
  Client c(s.port());
  const OneMember m = stable_group_of_one(c, "g");
  auto e2 = offset_commit(c, 2, "g", m.generation, m.member_id, {{"t", 0, 100, "meta-0"}});
  CHECK(e2.at({"t", 0}) == kNone);
  auto e7 = offset_commit(c, 7, "g", m.generation, m.member_id,
                          {{"t", 1, 200, std::nullopt}, {"u", 0, 7, "u0"}});
  CHECK(e7.at({"t", 1}) == kNone);
  CHECK(e7.at({"u", 0}) == kNone);

  const OffsetsFetched v1 = offset_fetch(c, 1, "g", {{{"t", 0}, {"t", 1}, {"t", 2}}});
  CHECK(v1.partitions.at({"t", 0}).offset == 100);
  CHECK(v1.partitions.at({"t", 0}).metadata == "meta-0");
  CHECK(v1.partitions.at({"t", 0}).error == kNone);
  CHECK(v1.partitions.at({"t", 1}).offset == 200);
  CHECK(v1.partitions.at({"t", 2}).offset == -1);  // never committed
  CHECK(v1.partitions.at({"t", 2}).error == kNone);
  // Kafka answers "" (OffsetFetchResponse.NO_METADATA) for no offset and for one committed
  // with null metadata (OffsetAndMetadata.NO_METADATA), never null.
  CHECK(v1.partitions.at({"t", 2}).metadata == "");
  CHECK(v1.partitions.at({"t", 1}).metadata == "");

  const OffsetsFetched v5 = offset_fetch(c, 5, "g", {{{"t", 1}, {"u", 0}, {"t", 2}}});
  CHECK(v5.error == kNone);
  CHECK(v5.partitions.at({"t", 1}).offset == 200);
  CHECK(v5.partitions.at({"t", 1}).leader_epoch == 4);
  CHECK(v5.partitions.at({"u", 0}).offset == 7);
  CHECK(v5.partitions.at({"u", 0}).metadata == "u0");
  CHECK(v5.partitions.at({"t", 2}).offset == -1);
  CHECK(v5.partitions.at({"t", 2}).leader_epoch == -1);
  CHECK(v5.partitions.at({"t", 2}).metadata == "");

  const OffsetsFetched all = offset_fetch(c, 2, "g", std::nullopt);
  CHECK(all.error == kNone);
  REQUIRE(all.partitions.size() == 3);
  CHECK(all.partitions.at({"t", 0}).offset == 100);
  CHECK(all.partitions.at({"t", 1}).offset == 200);
  CHECK(all.partitions.at({"u", 0}).offset == 7);
}

TEST_CASE("OffsetFetchOfAnUnknownGroupAnswersMinus1ForEachPartition") {
  TestServer s(group_options());
  Client c(s.port());
  const OffsetsFetched v1 = offset_fetch(c, 1, "unknown", {{{"t", 0}}});
  CHECK(v1.partitions.at({"t", 0}).offset == -1);
  CHECK(v1.partitions.at({"t", 0}).error == kNone);
  const OffsetsFetched v5 = offset_fetch(c, 5, "unknown", {{{"t", 3}}});
  CHECK(v5.error == kNone);
  CHECK(v5.partitions.at({"t", 3}).offset == -1);
  const OffsetsFetched all = offset_fetch(c, 5, "unknown", std::nullopt);
  CHECK(all.error == kNone);
  CHECK(all.partitions.empty());
}

TEST_CASE("OffsetCommitWithGenerationMinus1GoesIntoASimpleGroup") {
  TestServer s(group_options());
  Client c(s.port());
  auto e = offset_commit(c, 7, "simple", -1, "", {{"t", 0, 42, ""}});
  CHECK(e.at({"t", 0}) == kNone);
  CHECK(offset_fetch(c, 5, "simple", {{{"t", 0}}}).partitions.at({"t", 0}).offset == 42);
  CHECK(describe_group(c, "simple").state == "Empty");
  CHECK(list_groups(c).count("simple") == 1);
}

TEST_CASE("OffsetCommitOfMetadataOver4096BytesIsOffsetMetadataTooLarge") {
  TestServer s(group_options());
  Client c(s.port());
  auto e =
      offset_commit(c, 7, "simple", -1, "",
                    {{"t", 0, 1, std::string(4097, 'x')}, {"t", 1, 2, std::string(4096, 'y')}});
  CHECK(e.at({"t", 0}) == kOffsetMetadataTooLarge);
  CHECK(e.at({"t", 1}) == kNone);
  const OffsetsFetched f = offset_fetch(c, 5, "simple", {{{"t", 0}, {"t", 1}}});
  CHECK(f.partitions.at({"t", 0}).offset == -1);
  CHECK(f.partitions.at({"t", 1}).offset == 2);
}

TEST_CASE("ListGroupsNamesEveryGroupWithItsProtocolType") {
  TestServer s(group_options());
  Client c(s.port());
  // Enough groups that they fall in more than one of the 3 offsets partitions.
  for (int i = 0; i < 6; ++i) stable_group_of_one(c, fmt::format("listed-{}", i));
  (void)offset_commit(c, 7, "simple", -1, "", {{"t", 0, 1, ""}});
  const auto groups = list_groups(c);
  REQUIRE(groups.size() == 7);
  for (int i = 0; i < 6; ++i) CHECK(groups.at(fmt::format("listed-{}", i)) == "consumer");
  CHECK(groups.at("simple").empty());
  const Described unknown = describe_group(c, "nope");
  CHECK(unknown.error == kNone);
  CHECK(unknown.state == "Dead");
  CHECK(unknown.members.empty());
}

TEST_CASE("DeleteGroupsRefusesAGroupWithMembersThenDeletesItAndItsOffsets") {
  TestServer s(group_options());
  Client c(s.port());
  const OneMember m = stable_group_of_one(c, "g");
  (void)offset_commit(c, 7, "g", m.generation, m.member_id, {{"t", 0, 5, ""}});
  auto first = delete_groups(c, {"g", "unknown-group"});
  CHECK(first.at("g") == kNonEmptyGroup);
  CHECK(first.at("unknown-group") == kGroupIdNotFound);

  CHECK(leave_group_v0(c, "g", m.member_id) == kNone);
  CHECK(delete_groups(c, {"g"}).at("g") == kNone);
  CHECK(offset_fetch(c, 5, "g", {{{"t", 0}}}).partitions.at({"t", 0}).offset == -1);
  CHECK(list_groups(c).count("g") == 0);
  CHECK(delete_groups(c, {"g"}).at("g") == kGroupIdNotFound);
}

TEST_CASE("OffsetDeleteOnAnEmptyGroupRemovesTheOffsets") {
  TestServer s(group_options());
  Client c(s.port());
  (void)offset_commit(c, 7, "simple", -1, "", {{"t", 0, 5, ""}, {"t", 1, 6, ""}});
  RequestBuilder b(kOffsetDelete, 0, 91);
  b.body().string("simple");
  b.body().array_length(1);
  b.body().string("t");
  b.body().array_length(1);
  b.body().i32(0);
  auto rr = call(c, b, 91);
  Reader& r = rr.r;
  CHECK(r.i16() == kNone);
  (void)r.i32();
  REQUIRE(r.array_length(6) == 1);
  CHECK(r.string() == "t");
  REQUIRE(r.array_length(6) == 1);
  CHECK(r.i32() == 0);
  CHECK(r.i16() == kNone);
  REQUIRE(!r.failed());
  const OffsetsFetched f = offset_fetch(c, 5, "simple", {{{"t", 0}, {"t", 1}}});
  CHECK(f.partitions.at({"t", 0}).offset == -1);
  CHECK(f.partitions.at({"t", 1}).offset == 6);
}

namespace {

// ConsumerProtocolSubscription v0: version, topics, user data (null).
std::string consumer_subscription(const std::string& topic) {
  Writer w;
  w.i16(0);
  w.array_length(1);
  w.string(topic);
  w.i32(-1);
  const std::vector<std::byte> b = w.take();
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// OffsetDelete v0 of (topic, partition)s: top-level error, per (topic, partition) errors.
std::pair<std::int16_t, std::map<std::pair<std::string, std::int32_t>, std::int16_t>> offset_delete(
    Client& c, const std::string& group,
    const std::vector<std::pair<std::string, std::int32_t>>& partitions) {
  RequestBuilder b(kOffsetDelete, 0, 92);
  b.body().string(group);
  b.body().array_length(partitions.size());
  for (const auto& [topic, p] : partitions) {
    b.body().string(topic);
    b.body().array_length(1);
    b.body().i32(p);
  }
  auto rr = call(c, b, 92);
  Reader& r = rr.r;
  const std::int16_t top = r.i16();
  (void)r.i32();
  std::map<std::pair<std::string, std::int32_t>, std::int16_t> out;
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    const std::string name = r.string();
    const std::int32_t parts = r.array_length(6);
    for (std::int32_t i = 0; i < parts && !r.failed(); ++i) {
      const std::int32_t index = r.i32();
      out[{name, index}] = r.i16();
    }
  }
  REQUIRE(!r.failed());
  return {top, out};
}

}  // namespace

TEST_CASE("OffsetDeleteOnAStableConsumerGroupSparesSubscribedTopicsAndOtherTypesRefuse") {
  constexpr std::int16_t kGroupSubscribedToTopic = 86;
  TestServer s(group_options());
  Client c(s.port());
  const OneMember m = stable_group_of_one(c, "consumers", "consumer", consumer_subscription("t"));
  REQUIRE(offset_commit(c, 7, "consumers", m.generation, m.member_id,
                        {{"t", 0, 1, ""}, {"other", 0, 2, ""}})
              .size() == 2);
  const auto [top, errors] = offset_delete(c, "consumers", {{"t", 0}, {"other", 0}});
  CHECK(top == kNone);
  CHECK(errors.at({"t", 0}) == kGroupSubscribedToTopic);
  CHECK(errors.at({"other", 0}) == kNone);
  const OffsetsFetched f = offset_fetch(c, 5, "consumers", {{{"t", 0}, {"other", 0}}});
  CHECK(f.partitions.at({"t", 0}).offset == 1);
  CHECK(f.partitions.at({"other", 0}).offset == -1);

  stable_group_of_one(c, "connectors", "connect");
  CHECK(offset_delete(c, "connectors", {{"t", 0}}).first == kNonEmptyGroup);
  CHECK(offset_delete(c, "no-such-group", {{"t", 0}}).first == kGroupIdNotFound);
}

namespace {

struct TopicShape {
  std::int16_t error = -100;
  bool is_internal = false;
  std::size_t partitions = 0;
};

// Metadata v6 for one topic (auto-creation allowed).
TopicShape metadata_topic(Client& c, const std::string& topic) {
  c.send(testing::metadata_request(2, {topic}));
  auto rr = receive(c, 2);
  Reader& r = rr.r;
  (void)r.i32();  // throttle
  const std::int32_t brokers = r.array_length(1);
  for (std::int32_t i = 0; i < brokers; ++i) {
    (void)r.i32();
    (void)r.string();
    (void)r.i32();
    (void)r.nullable_string();
  }
  (void)r.nullable_string();  // cluster id
  (void)r.i32();              // controller
  REQUIRE(r.array_length(1) == 1);
  TopicShape out;
  out.error = r.i16();
  CHECK(r.string() == topic);
  out.is_internal = r.boolean();
  const std::int32_t parts = r.array_length(1);
  for (std::int32_t p = 0; p < parts && !r.failed(); ++p) {
    (void)r.i16();                          // error
    (void)r.i32();                          // index
    (void)r.i32();                          // leader
    for (int list = 0; list < 3; ++list) {  // replicas, isr, offline replicas (v5+)
      const std::int32_t n = r.array_length(4);
      for (std::int32_t i = 0; i < n && !r.failed(); ++i) (void)r.i32();
    }
  }
  REQUIRE(!r.failed());
  out.partitions = static_cast<std::size_t>(parts);
  return out;
}

}  // namespace

TEST_CASE("ConsumerOffsetsHasOffsetsPartitionsIsInternalAndRefusesProduce") {
  TestServer s(group_options());
  Client c(s.port());
  const TopicShape t = metadata_topic(c, "__consumer_offsets");
  CHECK(t.error == kNone);
  CHECK(t.is_internal);
  CHECK(t.partitions == 3);  // offsets_partitions, not default_partitions (2)

  c.send(testing::produce_request(5, "__consumer_offsets", 0, testing::make_batch(1)));
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  Reader& r = rr.r;
  CHECK(r.i32() == 5);
  REQUIRE(r.array_length(1) == 1);
  CHECK(r.string() == "__consumer_offsets");
  REQUIRE(r.array_length(1) == 1);
  CHECK(r.i32() == 0);
  CHECK(r.i16() == kInvalidTopic);
  REQUIRE(!r.failed());
}

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// samsa-server as a child process on 127.0.0.1 (a free port, read from its "listening on"
// line) over `dir`, which outlives it; SIGKILLed and reaped when destroyed.
class ServerChild {
 public:
  explicit ServerChild(const std::filesystem::path& dir) {
    std::vector<std::string> args = {SAMSA_SERVER_BINARY,
                                     "--data-dir",
                                     dir.string(),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--offsets-topic-partitions",
                                     "3",
                                     "--group-initial-rebalance-delay-ms",
                                     "0"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    if (pid_ < 0) throw std::runtime_error("fork failed");
    port_ = read_port();
  }
  ~ServerChild() {
    kill9();
    if (out_ >= 0) ::close(out_);
  }
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;

  std::uint16_t port() const { return port_; }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::uint16_t read_port() {
    const auto deadline = Clock::now() + 20s;
    std::string text;
    while (Clock::now() < deadline) {
      const std::size_t at = text.find("listening on 127.0.0.1:");
      if (at != std::string::npos && text.find(' ', at + 23) != std::string::npos) {
        return static_cast<std::uint16_t>(std::strtoul(text.c_str() + at + 23, nullptr, 10));
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    throw std::runtime_error("samsa-server did not start: " + text);
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("CommittedOffsetsSurviveKill9OfTheServerProcess") {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("samsa-group-durable-{}", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    ServerChild child(dir);
    Client c(child.port());
    const OneMember m = stable_group_of_one(c, "durable");
    for (std::int32_t p = 0; p < 4; ++p) {
      auto e = offset_commit(c, 7, "durable", m.generation, m.member_id,
                             {{"t", p, 1000 + p, fmt::format("m{}", p)}});
      REQUIRE(e.at({"t", p}) == kNone);
    }
    auto e = offset_commit(c, 2, "simple", -1, "", {{"u", 0, 77, ""}});
    REQUIRE(e.at({"u", 0}) == kNone);
    // Deletions are durable too: a deleted group and a deleted offset stay deleted.
    REQUIRE(offset_commit(c, 7, "gone", -1, "", {{"u", 0, 5, ""}}).at({"u", 0}) == kNone);
    REQUIRE(delete_groups(c, {"gone"}).at("gone") == kNone);
    REQUIRE(offset_commit(c, 7, "simple", -1, "", {{"u", 1, 6, ""}}).at({"u", 1}) == kNone);
    RequestBuilder b(kOffsetDelete, 0, 91);
    b.body().string("simple");
    b.body().array_length(1);
    b.body().string("u");
    b.body().array_length(1);
    b.body().i32(1);
    auto rr = call(c, b, 91);
    REQUIRE(rr.r.i16() == kNone);
    child.kill9();  // every commit was answered, so each is durable
  }
  {
    ServerChild child(dir);
    Client c(child.port());
    const OffsetsFetched f =
        offset_fetch(c, 5, "durable", {{{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}, {"t", 4}}});
    CHECK(f.error == kNone);
    for (std::int32_t p = 0; p < 4; ++p) {
      CHECK(f.partitions.at({"t", p}).offset == 1000 + p);
      CHECK(f.partitions.at({"t", p}).metadata == fmt::format("m{}", p));
    }
    CHECK(f.partitions.at({"t", 4}).offset == -1);
    const OffsetsFetched simple = offset_fetch(c, 1, "simple", {{{"u", 0}, {"u", 1}}});
    CHECK(simple.partitions.at({"u", 0}).offset == 77);
    CHECK(simple.partitions.at({"u", 1}).offset == -1);
    CHECK(offset_fetch(c, 5, "gone", {{{"u", 0}}}).partitions.at({"u", 0}).offset == -1);
    CHECK(list_groups(c).count("gone") == 0);
    CHECK(list_groups(c).count("durable") == 1);
    const TopicShape t = metadata_topic(c, "__consumer_offsets");
    CHECK(t.partitions == 3);
    CHECK(t.is_internal);
    // The group's member came back (its session restarted at load), with its assignment.
    const Described d = describe_group(c, "durable");
    CHECK(d.state == "Stable");
    REQUIRE(d.members.size() == 1);
    CHECK(d.members.begin()->second.assignment == "a-" + d.members.begin()->first);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace samsa_server
