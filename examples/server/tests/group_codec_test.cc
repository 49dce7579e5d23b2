// The consumer-group codecs on hand-built bytes. Requests and expected responses are built
// from Kafka's JSON schemas with Bytes (big-endian pushes, independent of Reader and Writer),
// at every implemented version: a decoder must read every field and leave nothing over; an
// encoder must produce exactly the schema's layout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "codec/group_messages.h"

namespace samsa_server {
namespace {

constexpr std::int32_t kInt32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t kInt32Min = std::numeric_limits<std::int32_t>::min();

// Kafka's primitive types, pushed byte by byte, big-endian.
class Bytes {
 public:
  Bytes& i8(std::int64_t v) { return be(v, 1); }
  Bytes& i16(std::int64_t v) { return be(v, 2); }
  Bytes& i32(std::int64_t v) { return be(v, 4); }
  Bytes& i64(std::int64_t v) { return be(v, 8); }
  Bytes& str(std::string_view s) {
    i16(static_cast<std::int64_t>(s.size()));
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Bytes& null_str() { return i16(-1); }
  Bytes& blob(std::initializer_list<int> bytes) {
    i32(static_cast<std::int64_t>(bytes.size()));
    for (int b : bytes) out_.push_back(static_cast<std::byte>(b));
    return *this;
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  Bytes& be(std::int64_t v, int width) {
    const auto u = static_cast<std::uint64_t>(v);
    for (int i = width - 1; i >= 0; --i)
      out_.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xff));
    return *this;
  }
  std::vector<std::byte> out_;
};

std::vector<std::byte> raw(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

std::string hex(const std::vector<std::byte>& b) {
  std::string s;
  for (std::byte x : b) s += fmt::format("{:02x}", static_cast<unsigned>(x));
  return s;
}

std::int16_t max_version(ApiKey key) {
  for (const ApiVersionRange& r : kGroupCodecVersions) {
    if (r.api_key == static_cast<std::int16_t>(key)) return r.max_version;
  }
  FAIL("no codec range for key " << static_cast<int>(key));
  return -1;
}

// Every implemented version of `key`.
std::vector<std::int16_t> versions(ApiKey key) {
  std::vector<std::int16_t> out;
  for (std::int16_t v = 0; v <= max_version(key); ++v) out.push_back(v);
  return out;
}

// Decodes all of `bytes`; the decoder must succeed and consume every byte.
template <typename Decode>
auto decode_whole(std::vector<std::byte> bytes, std::int16_t version, Decode decode) {
  Reader r(bytes);
  auto m = decode(r, version);
  if (!m.ok()) FAIL(m.status().message());
  CHECK(r.remaining() == 0);
  return *std::move(m);
}

template <typename Message>
std::string encoded(const Message& m, std::int16_t version) {
  Writer w;
  encode(m, version, w);
  return hex(w.buffer());
}

// ---- Request bytes per version, from the *Request.json schemas

std::vector<std::byte> offset_commit_request(std::int16_t v) {
  Bytes b;
  b.str("grp");
  if (v >= 1) b.i32(7).str("member-1");     // generation, member id
  if (v >= 7) b.str("instance-1");          // group instance id
  if (v >= 2 && v <= 4) b.i64(86'400'000);  // retention time
  b.i32(1).str("orders").i32(2);            // 1 topic, 2 partitions
  b.i32(0).i64(42);                         // partition 0
  if (v >= 6) b.i32(3);                     // committed leader epoch
  if (v == 1) b.i64(1'700'000'000'000);     // commit timestamp
  b.str("meta");
  b.i32(5).i64(99);  // partition 5
  if (v >= 6) b.i32(4);
  if (v == 1) b.i64(1'700'000'000'001);
  b.null_str();
  return b.take();
}

std::vector<std::byte> offset_fetch_request(std::int16_t /*v*/) {
  return Bytes().str("grp").i32(2).str("a").i32(2).i32(0).i32(3).str("b").i32(0).take();
}

std::vector<std::byte> join_group_request(std::int16_t v) {
  Bytes b;
  b.str("grp").i32(10'000);
  if (v >= 1) b.i32(60'000);  // rebalance timeout
  b.str("member-1");
  if (v >= 5) b.str("instance-1");
  b.str("consumer").i32(2).str("range").blob({0, 1, 2}).str("roundrobin").blob({});
  return b.take();
}

std::vector<std::byte> heartbeat_request(std::int16_t v) {
  Bytes b;
  b.str("grp").i32(3).str("member-1");
  if (v >= 3) b.str("instance-1");
  return b.take();
}

std::vector<std::byte> leave_group_request(std::int16_t v) {
  Bytes b;
  b.str("grp");
  if (v <= 2) {
    b.str("member-1");
  } else {
    b.i32(2).str("member-1").str("instance-1").str("member-2").null_str();
  }
  return b.take();
}

std::vector<std::byte> sync_group_request(std::int16_t v) {
  Bytes b;
  b.str("grp").i32(4).str("member-1");
  if (v >= 3) b.null_str();  // group instance id
  b.i32(2).str("member-1").blob({9, 8}).str("member-2").blob({});
  return b.take();
}

std::vector<std::byte> describe_groups_request(std::int16_t v) {
  Bytes b;
  b.i32(2).str("g1").str("g2");
  if (v >= 3) b.i8(1);  // include authorized operations
  return b.take();
}

std::vector<std::byte> delete_groups_request(std::int16_t /*v*/) {
  return Bytes().i32(2).str("g1").str("").take();
}

std::vector<std::byte> offset_delete_request(std::int16_t /*v*/) {
  return Bytes().str("grp").i32(1).str("orders").i32(2).i32(0).i32(7).take();
}

struct GroupApi {
  ApiKey key;
  std::function<std::vector<std::byte>(std::int16_t)> request;
  // The decoder's status on `r` (the value is checked by the per-API tests).
  std::function<samsa::Status(Reader&, std::int16_t)> decode;
};

template <typename F>
std::function<samsa::Status(Reader&, std::int16_t)> status_of(F decode) {
  return [decode](Reader& r, std::int16_t v) -> samsa::Status {
    auto m = decode(r, v);
    if (!m.ok()) return m.status();
    return {};
  };
}

// The APIs with request fields (ListGroups v0-v2 has none).
std::vector<GroupApi> apis_with_fields() {
  return {
      {ApiKey::offset_commit, offset_commit_request, status_of(decode_offset_commit)},
      {ApiKey::offset_fetch, offset_fetch_request, status_of(decode_offset_fetch)},
      {ApiKey::join_group, join_group_request, status_of(decode_join_group)},
      {ApiKey::heartbeat, heartbeat_request, status_of(decode_heartbeat)},
      {ApiKey::leave_group, leave_group_request, status_of(decode_leave_group)},
      {ApiKey::sync_group, sync_group_request, status_of(decode_sync_group)},
      {ApiKey::describe_groups, describe_groups_request, status_of(decode_describe_groups)},
      {ApiKey::delete_groups, delete_groups_request, status_of(decode_delete_groups)},
      {ApiKey::offset_delete, offset_delete_request, status_of(decode_offset_delete)},
  };
}

}  // namespace

TEST_CASE("GroupCodecBytesHelperIsBigEndian") {
  CHECK(Bytes().i16(0x0102).i32(-2).str("a").take() ==
        raw({0x01, 0x02, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x01, 'a'}));
}

TEST_CASE("GroupCodecVersionsAreTheNonFlexibleOnes") {
  const std::vector<ApiVersionRange> want{{8, 0, 7},  {9, 0, 5},  {11, 0, 5}, {12, 0, 3},
                                          {13, 0, 3}, {14, 0, 3}, {15, 0, 4}, {16, 0, 2},
                                          {42, 0, 1}, {47, 0, 0}};
  CHECK(std::vector<ApiVersionRange>(kGroupCodecVersions.begin(), kGroupCodecVersions.end()) ==
        want);
}

TEST_CASE("GroupApiNames") {
  CHECK(api_name(8) == "OffsetCommit");
  CHECK(api_name(9) == "OffsetFetch");
  CHECK(api_name(11) == "JoinGroup");
  CHECK(api_name(12) == "Heartbeat");
  CHECK(api_name(13) == "LeaveGroup");
  CHECK(api_name(14) == "SyncGroup");
  CHECK(api_name(15) == "DescribeGroups");
  CHECK(api_name(16) == "ListGroups");
  CHECK(api_name(42) == "DeleteGroups");
  CHECK(api_name(47) == "OffsetDelete");
}

TEST_CASE("GroupErrorCodesMatchKafkaErrors") {
  CHECK(error::kUnknownServerError == -1);
  CHECK(error::kOffsetMetadataTooLarge == 12);
  CHECK(error::kCoordinatorLoadInProgress == 14);
  CHECK(error::kNotCoordinator == 16);
  CHECK(error::kIllegalGeneration == 22);
  CHECK(error::kInconsistentGroupProtocol == 23);
  CHECK(error::kInvalidGroupId == 24);
  CHECK(error::kUnknownMemberId == 25);
  CHECK(error::kInvalidSessionTimeout == 26);
  CHECK(error::kRebalanceInProgress == 27);
  CHECK(error::kInvalidCommitOffsetSize == 28);
  CHECK(error::kNonEmptyGroup == 68);
  CHECK(error::kGroupIdNotFound == 69);
  CHECK(error::kMemberIdRequired == 79);
  CHECK(error::kGroupMaxSizeReached == 81);
  CHECK(error::kFencedInstanceId == 82);
  CHECK(error::kGroupSubscribedToTopic == 86);
  CHECK(error::kUnstableOffsetCommit == 88);
}

// ---- OffsetCommit (8)

TEST_CASE("OffsetCommitRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::offset_commit)) {
    CAPTURE(v);
    auto m = decode_whole(offset_commit_request(v), v, decode_offset_commit);
    CHECK(m.group_id == "grp");
    CHECK(m.generation_id_or_member_epoch == (v >= 1 ? 7 : -1));
    CHECK(m.member_id == (v >= 1 ? "member-1" : ""));
    CHECK(m.group_instance_id ==
          (v >= 7 ? std::optional<std::string>("instance-1") : std::nullopt));
    CHECK(m.retention_time_ms == (v >= 2 && v <= 4 ? 86'400'000 : -1));
    REQUIRE(m.topics.size() == 1);
    CHECK(m.topics[0].name == "orders");
    REQUIRE(m.topics[0].partitions.size() == 2);
    const OffsetCommitPartition& p0 = m.topics[0].partitions[0];
    const OffsetCommitPartition& p1 = m.topics[0].partitions[1];
    CHECK(p0.partition_index == 0);
    CHECK(p0.committed_offset == 42);
    CHECK(p0.committed_leader_epoch == (v >= 6 ? 3 : -1));
    CHECK(p0.commit_timestamp == (v == 1 ? 1'700'000'000'000 : -1));
    CHECK(p0.committed_metadata == "meta");
    CHECK(p1.partition_index == 5);
    CHECK(p1.committed_offset == 99);
    CHECK(p1.committed_leader_epoch == (v >= 6 ? 4 : -1));
    CHECK(p1.commit_timestamp == (v == 1 ? 1'700'000'000'001 : -1));
    CHECK(!p1.committed_metadata);
  }
}

TEST_CASE("OffsetCommitV7NullGroupInstanceId") {
  auto b = Bytes().str("g").i32(1).str("m").null_str().i32(0).take();
  auto m = decode_whole(b, 7, decode_offset_commit);
  CHECK(!m.group_instance_id);
  CHECK(m.topics.empty());
}

TEST_CASE("OffsetCommitResponseLayoutEveryVersion") {
  OffsetCommitResponse m;
  m.throttle_time_ms = 100;
  m.topics.push_back({"orders", {{0, error::kNone}, {5, error::kOffsetMetadataTooLarge}}});
  for (std::int16_t v : versions(ApiKey::offset_commit)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 3) want.i32(100);
    want.i32(1).str("orders").i32(2).i32(0).i16(0).i32(5).i16(12);
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- OffsetFetch (9)

TEST_CASE("OffsetFetchRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::offset_fetch)) {
    CAPTURE(v);
    auto m = decode_whole(offset_fetch_request(v), v, decode_offset_fetch);
    CHECK(m.group_id == "grp");
    REQUIRE(m.topics);
    REQUIRE(m.topics->size() == 2);
    CHECK((*m.topics)[0].name == "a");
    CHECK((*m.topics)[0].partition_indexes == std::vector<std::int32_t>{0, 3});
    CHECK((*m.topics)[1].name == "b");
    CHECK((*m.topics)[1].partition_indexes.empty());
  }
}

TEST_CASE("OffsetFetchNullTopicsMeansAllFromV2Only") {
  for (std::int16_t v : versions(ApiKey::offset_fetch)) {
    CAPTURE(v);
    auto b = Bytes().str("grp").i32(-1).take();
    Reader r(b);
    auto m = decode_offset_fetch(r, v);
    if (v < 2) {
      REQUIRE(!m.ok());
      CHECK(m.status().message().find("malformed OffsetFetch request") != std::string::npos);
    } else {
      REQUIRE(m.ok());
      CHECK(!m->topics);
    }
  }
  auto empty = Bytes().str("grp").i32(0).take();
  auto m = decode_whole(empty, 2, decode_offset_fetch);
  REQUIRE(m.topics);  // empty is not null: no topics at all
  CHECK(m.topics->empty());
}

TEST_CASE("OffsetFetchResponseLayoutEveryVersion") {
  OffsetFetchResponse m;
  m.throttle_time_ms = 9;
  m.error_code = error::kCoordinatorLoadInProgress;
  m.topics.push_back({"orders", {{1, 77, 6, "meta", error::kNone}, {2, -1, -1, std::nullopt, 3}}});
  for (std::int16_t v : versions(ApiKey::offset_fetch)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 3) want.i32(9);
    want.i32(1).str("orders").i32(2);
    want.i32(1).i64(77);
    if (v >= 5) want.i32(6);
    want.str("meta").i16(0);
    want.i32(2).i64(-1);
    if (v >= 5) want.i32(-1);
    want.null_str().i16(3);
    if (v >= 2) want.i16(14);
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

TEST_CASE("OffsetFetchResponseDefaultLeaderEpochIsMinusOne") {
  CHECK(OffsetFetchPartitionResponse{}.committed_leader_epoch == -1);
}

// ---- JoinGroup (11)

TEST_CASE("JoinGroupRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::join_group)) {
    CAPTURE(v);
    auto m = decode_whole(join_group_request(v), v, decode_join_group);
    CHECK(m.group_id == "grp");
    CHECK(m.session_timeout_ms == 10'000);
    CHECK(m.rebalance_timeout_ms == (v >= 1 ? 60'000 : -1));  // -1 in v0: the session timeout
    CHECK(m.member_id == "member-1");
    CHECK(m.group_instance_id ==
          (v >= 5 ? std::optional<std::string>("instance-1") : std::nullopt));
    CHECK(m.protocol_type == "consumer");
    REQUIRE(m.protocols.size() == 2);
    CHECK(m.protocols[0].name == "range");
    CHECK(m.protocols[0].metadata == raw({0, 1, 2}));
    CHECK(m.protocols[1].name == "roundrobin");
    CHECK(m.protocols[1].metadata.empty());
  }
}

TEST_CASE("JoinGroupNullProtocolMetadataFails") {
  auto b = Bytes().str("g").i32(1).str("").str("consumer").i32(1).str("range").i32(-1).take();
  Reader r(b);
  auto m = decode_join_group(r, 0);
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("malformed JoinGroup request: null bytes") != std::string::npos);
}

TEST_CASE("JoinGroupMetadataIsCopiedOutOfTheRequest") {
  auto b = join_group_request(0);
  JoinGroupRequest m;
  {
    Reader r(b);
    auto decoded = decode_join_group(r, 0);
    REQUIRE(decoded.ok());
    m = *std::move(decoded);
  }
  std::fill(b.begin(), b.end(), std::byte{0xee});
  CHECK(m.protocols[0].metadata == raw({0, 1, 2}));
}

TEST_CASE("JoinGroupResponseLayoutEveryVersion") {
  JoinGroupResponse m;
  m.throttle_time_ms = 5;
  m.error_code = error::kNone;
  m.generation_id = 3;
  m.protocol_name = "range";
  m.leader = "member-1";
  m.member_id = "member-2";
  m.members.push_back({"member-1", "instance-1", raw({1, 2})});
  m.members.push_back({"member-2", std::nullopt, {}});
  for (std::int16_t v : versions(ApiKey::join_group)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 2) want.i32(5);
    want.i16(0).i32(3).str("range").str("member-1").str("member-2").i32(2);
    want.str("member-1");
    if (v >= 5) want.str("instance-1");
    want.blob({1, 2});
    want.str("member-2");
    if (v >= 5) want.null_str();
    want.blob({});
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

TEST_CASE("JoinGroupResponseDefaultGenerationIsMinusOne") {
  JoinGroupResponse m;
  m.error_code = error::kMemberIdRequired;
  m.member_id = "m";
  CHECK(encoded(m, 0) == hex(Bytes().i16(79).i32(-1).str("").str("").str("m").i32(0).take()));
}

// ---- Heartbeat (12)

TEST_CASE("HeartbeatRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::heartbeat)) {
    CAPTURE(v);
    auto m = decode_whole(heartbeat_request(v), v, decode_heartbeat);
    CHECK(m.group_id == "grp");
    CHECK(m.generation_id == 3);
    CHECK(m.member_id == "member-1");
    CHECK(m.group_instance_id ==
          (v >= 3 ? std::optional<std::string>("instance-1") : std::nullopt));
  }
}

TEST_CASE("HeartbeatResponseLayoutEveryVersion") {
  const HeartbeatResponse m{7, error::kRebalanceInProgress};
  for (std::int16_t v : versions(ApiKey::heartbeat)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 1) want.i32(7);
    want.i16(27);
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- LeaveGroup (13)

TEST_CASE("LeaveGroupRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::leave_group)) {
    CAPTURE(v);
    auto m = decode_whole(leave_group_request(v), v, decode_leave_group);
    CHECK(m.group_id == "grp");
    if (v <= 2) {
      CHECK(m.member_id == "member-1");
      CHECK(m.members.empty());
    } else {
      CHECK(m.member_id.empty());
      REQUIRE(m.members.size() == 2);
      CHECK(m.members[0].member_id == "member-1");
      CHECK(m.members[0].group_instance_id == "instance-1");
      CHECK(m.members[1].member_id == "member-2");
      CHECK(!m.members[1].group_instance_id);
    }
  }
}

TEST_CASE("LeaveGroupResponseLayoutEveryVersion") {
  LeaveGroupResponse m;
  m.throttle_time_ms = 1;
  m.error_code = error::kNone;
  m.members.push_back({"member-1", "instance-1", error::kNone});
  m.members.push_back({"member-2", std::nullopt, error::kUnknownMemberId});
  for (std::int16_t v : versions(ApiKey::leave_group)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 1) want.i32(1);
    want.i16(0);
    if (v >= 3)
      want.i32(2).str("member-1").str("instance-1").i16(0).str("member-2").null_str().i16(25);
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- SyncGroup (14)

TEST_CASE("SyncGroupRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::sync_group)) {
    CAPTURE(v);
    auto m = decode_whole(sync_group_request(v), v, decode_sync_group);
    CHECK(m.group_id == "grp");
    CHECK(m.generation_id == 4);
    CHECK(m.member_id == "member-1");
    CHECK(!m.group_instance_id);
    REQUIRE(m.assignments.size() == 2);
    CHECK(m.assignments[0].member_id == "member-1");
    CHECK(m.assignments[0].assignment == raw({9, 8}));
    CHECK(m.assignments[1].member_id == "member-2");
    CHECK(m.assignments[1].assignment.empty());
  }
}

TEST_CASE("SyncGroupV3ReadsGroupInstanceId") {
  auto b = Bytes().str("g").i32(1).str("m").str("static-1").i32(0).take();
  auto m = decode_whole(b, 3, decode_sync_group);
  CHECK(m.group_instance_id == "static-1");
  CHECK(m.assignments.empty());
}

TEST_CASE("SyncGroupResponseLayoutEveryVersion") {
  const SyncGroupResponse m{3, error::kNone, raw({0, 1, 0xff})};
  for (std::int16_t v : versions(ApiKey::sync_group)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 1) want.i32(3);
    want.i16(0).blob({0, 1, 0xff});
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- DescribeGroups (15)

TEST_CASE("DescribeGroupsRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::describe_groups)) {
    CAPTURE(v);
    auto m = decode_whole(describe_groups_request(v), v, decode_describe_groups);
    CHECK(m.groups == std::vector<std::string>{"g1", "g2"});
    CHECK(m.include_authorized_operations == (v >= 3));
  }
}

TEST_CASE("DescribeGroupsResponseLayoutEveryVersion") {
  DescribeGroupsResponse m;
  m.throttle_time_ms = 2;
  DescribedGroup& g = m.groups.emplace_back();
  g.group_id = "grp";
  g.group_state = "Stable";
  g.protocol_type = "consumer";
  g.protocol_data = "range";
  g.members.push_back({"member-1", "instance-1", "client-1", "/10.0.0.1", raw({1}), raw({2, 3})});
  g.authorized_operations = 0x0f;
  DescribedGroup& missing = m.groups.emplace_back();  // defaults: INT32_MIN operations
  missing.error_code = error::kGroupIdNotFound;
  missing.group_id = "nope";
  missing.group_state = "Dead";
  for (std::int16_t v : versions(ApiKey::describe_groups)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 1) want.i32(2);
    want.i32(2);
    want.i16(0).str("grp").str("Stable").str("consumer").str("range").i32(1);
    want.str("member-1");
    if (v >= 4) want.str("instance-1");
    want.str("client-1").str("/10.0.0.1").blob({1}).blob({2, 3});
    if (v >= 3) want.i32(0x0f);
    want.i16(69).str("nope").str("Dead").str("").str("").i32(0);
    if (v >= 3) want.i32(kInt32Min);
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- ListGroups (16)

TEST_CASE("ListGroupsRequestHasNoFieldsBeforeV3") {
  for (std::int16_t v : versions(ApiKey::list_groups)) {
    CAPTURE(v);
    std::vector<std::byte> empty;
    Reader r(empty);
    CHECK(decode_list_groups(r, v).ok());
  }
}

TEST_CASE("ListGroupsResponseLayoutEveryVersion") {
  ListGroupsResponse m;
  m.throttle_time_ms = 4;
  m.error_code = error::kNone;
  m.groups.push_back({"g1", "consumer"});
  m.groups.push_back({"g2", ""});
  for (std::int16_t v : versions(ApiKey::list_groups)) {
    CAPTURE(v);
    Bytes want;
    if (v >= 1) want.i32(4);
    want.i16(0).i32(2).str("g1").str("consumer").str("g2").str("");
    CHECK(encoded(m, v) == hex(want.take()));
  }
}

// ---- DeleteGroups (42)

TEST_CASE("DeleteGroupsRequestDecodesEveryVersion") {
  for (std::int16_t v : versions(ApiKey::delete_groups)) {
    CAPTURE(v);
    auto m = decode_whole(delete_groups_request(v), v, decode_delete_groups);
    CHECK(m.groups_names == std::vector<std::string>{"g1", ""});
  }
}

TEST_CASE("DeleteGroupsResponseHasThrottleTimeFromV0") {
  DeleteGroupsResponse m;
  m.throttle_time_ms = 6;
  m.results.push_back({"g1", error::kNone});
  m.results.push_back({"g2", error::kNonEmptyGroup});
  for (std::int16_t v : versions(ApiKey::delete_groups)) {
    CAPTURE(v);
    CHECK(encoded(m, v) == hex(Bytes().i32(6).i32(2).str("g1").i16(0).str("g2").i16(68).take()));
  }
}

// ---- OffsetDelete (47)

TEST_CASE("OffsetDeleteRequestDecodesV0") {
  auto m = decode_whole(offset_delete_request(0), 0, decode_offset_delete);
  CHECK(m.group_id == "grp");
  REQUIRE(m.topics.size() == 1);
  CHECK(m.topics[0].name == "orders");
  REQUIRE(m.topics[0].partitions.size() == 2);
  CHECK(m.topics[0].partitions[0].partition_index == 0);
  CHECK(m.topics[0].partitions[1].partition_index == 7);
}

TEST_CASE("OffsetDeleteResponseHasErrorCodeBeforeThrottleTime") {
  OffsetDeleteResponse m;
  m.error_code = error::kNone;
  m.throttle_time_ms = 8;
  m.topics.push_back({"orders", {{0, error::kNone}, {7, error::kGroupSubscribedToTopic}}});
  CHECK(encoded(m, 0) ==
        hex(Bytes().i16(0).i32(8).i32(1).str("orders").i32(2).i32(0).i16(0).i32(7).i16(86).take()));
}

// ---- Malformed requests, every API

TEST_CASE("GroupRequestsTruncatedAnywhereFailNamingTheApi") {
  for (const GroupApi& api : apis_with_fields()) {
    const std::string name = api_name(static_cast<std::int16_t>(api.key));
    const std::string want = fmt::format("malformed {} request", name);
    for (std::int16_t v : versions(api.key)) {
      const std::vector<std::byte> whole = api.request(v);
      for (std::size_t n = 0; n < whole.size(); ++n) {
        CAPTURE(name, v, n);
        std::vector<std::byte> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
        Reader r(cut);
        const samsa::Status s = api.decode(r, v);
        REQUIRE(!s.ok());
        CHECK(s.message().find(want) != std::string::npos);
      }
    }
  }
}

TEST_CASE("GroupRequestsHugeArrayLengthFailsBeforeAllocating") {
  struct Case {
    const char* what;
    std::vector<std::byte> bytes;
    std::function<samsa::Status(Reader&, std::int16_t)> decode;
    std::int16_t version;
  };
  // Each sets an array length no remaining bytes can hold; the error is the length check's
  // (made before any element is allocated), not a later read running off the end.
  const std::vector<Case> cases{
      {"OffsetCommit topics",
       Bytes().str("g").i32(1).str("m").null_str().i32(kInt32Max).i64(0).take(),
       status_of(decode_offset_commit), 7},
      {"OffsetCommit partitions", Bytes().str("g").i32(1).str("t").i32(kInt32Max).i64(0).take(),
       status_of(decode_offset_commit), 0},
      {"OffsetFetch topics", Bytes().str("g").i32(kInt32Max).take(), status_of(decode_offset_fetch),
       5},
      {"OffsetFetch partitions", Bytes().str("g").i32(1).str("t").i32(kInt32Max).take(),
       status_of(decode_offset_fetch), 0},
      {"JoinGroup protocols",
       Bytes().str("g").i32(1).i32(1).str("m").null_str().str("c").i32(kInt32Max).take(),
       status_of(decode_join_group), 5},
      {"LeaveGroup members", Bytes().str("g").i32(kInt32Max).take(), status_of(decode_leave_group),
       3},
      {"SyncGroup assignments", Bytes().str("g").i32(1).str("m").null_str().i32(kInt32Max).take(),
       status_of(decode_sync_group), 3},
      {"DescribeGroups groups", Bytes().i32(kInt32Max).i8(0).take(),
       status_of(decode_describe_groups), 4},
      {"DeleteGroups groups", Bytes().i32(kInt32Max).take(), status_of(decode_delete_groups), 1},
      {"OffsetDelete topics", Bytes().str("g").i32(kInt32Max).take(),
       status_of(decode_offset_delete), 0},
      {"OffsetDelete partitions", Bytes().str("g").i32(1).str("t").i32(kInt32Max).take(),
       status_of(decode_offset_delete), 0},
      // Fits as a count of bytes (12 left) but not of 6-byte topics.
      {"OffsetDelete topics of their minimum size", Bytes().str("g").i32(3).i64(0).i32(0).take(),
       status_of(decode_offset_delete), 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::vector<std::byte> b = c.bytes;
    Reader r(b);
    const samsa::Status s = c.decode(r, c.version);
    REQUIRE(!s.ok());
    CHECK(s.message().find("array length") != std::string::npos);
    CHECK(s.message().find("does not fit") != std::string::npos);
  }
}

TEST_CASE("GroupRequestsHugeBytesLengthFailsBeforeCopying") {
  auto join = Bytes().str("g").i32(1).str("").str("c").i32(1).str("p").i32(kInt32Max).take();
  Reader r1(join);
  auto j = decode_join_group(r1, 0);
  REQUIRE(!j.ok());
  CHECK(j.status().message().find("bytes of 2147483647 bytes") != std::string::npos);
  auto sync = Bytes().str("g").i32(1).str("m").i32(1).str("m").i32(kInt32Max).take();
  Reader r2(sync);
  auto s = decode_sync_group(r2, 0);
  REQUIRE(!s.ok());
  CHECK(s.status().message().find("bytes of 2147483647 bytes") != std::string::npos);
}

TEST_CASE("GroupRequestsNullRequiredStringFails") {
  auto b = Bytes().null_str().i32(1).str("m").take();
  Reader r(b);
  auto m = decode_heartbeat(r, 0);
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("malformed Heartbeat request: null string") != std::string::npos);
}

}  // namespace samsa_server
