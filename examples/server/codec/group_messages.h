// The consumer-group APIs' requests and responses, as plain structs, with a decoder per
// request and an encoder per response (one .cc per API key), in the style of messages.h:
// decoders read untrusted bytes and fail with decode_error() naming the API; encoders cannot
// fail. Only non-flexible versions are implemented (the server has no flexible response
// header). A field that exists only in some versions says so ("// v1+"); an encoder drops a
// field in versions that do not have it, and a decoder leaves it at its default, which is
// Kafka's schema default.
//
// Field lists, versions and defaults: apache/kafka
// clients/src/main/resources/common/message/<Name>{Request,Response}.json.
//
// kGroupCodecVersions lists what the codecs implement; ApiVersions advertises exactly it
// (supported_apis()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "codec/messages.h"
#include "codec/protocol.h"
#include "codec/wire.h"

namespace samsa_server {

// The versions the group codecs implement, sorted by key: every non-flexible version.
inline constexpr std::array<ApiVersionRange, 10> kGroupCodecVersions{{
    {8, 0, 7},   // OffsetCommit: v8 is flexible
    {9, 0, 5},   // OffsetFetch: v6 is flexible
    {11, 0, 5},  // JoinGroup: v6 is flexible
    {12, 0, 3},  // Heartbeat: v4 is flexible
    {13, 0, 3},  // LeaveGroup: v4 is flexible
    {14, 0, 3},  // SyncGroup: v4 is flexible
    {15, 0, 4},  // DescribeGroups: v5 is flexible
    {16, 0, 2},  // ListGroups: v3 is flexible
    {42, 0, 1},  // DeleteGroups: v2 is flexible
    {47, 0, 0},  // OffsetDelete: the only version, not flexible
}};

// --- OffsetCommit (8), v0-v7
struct OffsetCommitPartition {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = 0;
  std::int32_t committed_leader_epoch = -1;  // v6+
  std::int64_t commit_timestamp = -1;        // v1 only
  std::optional<std::string> committed_metadata;
};
struct OffsetCommitTopic {
  std::string name;
  std::vector<OffsetCommitPartition> partitions;
};
struct OffsetCommitRequest {
  std::string group_id;
  // Kafka's GenerationIdOrMemberEpoch: the generation for the classic group protocol.
  std::int32_t generation_id_or_member_epoch = -1;  // v1+
  std::string member_id;                            // v1+
  std::optional<std::string> group_instance_id;     // v7+
  std::int64_t retention_time_ms = -1;              // v2-v4; -1: the broker's retention
  std::vector<OffsetCommitTopic> topics;
};
struct OffsetCommitPartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
};
struct OffsetCommitTopicResponse {
  std::string name;
  std::vector<OffsetCommitPartitionResponse> partitions;
};
struct OffsetCommitResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<OffsetCommitTopicResponse> topics;
};
samsa::Result<OffsetCommitRequest> decode_offset_commit(Reader& r, std::int16_t version);
void encode(const OffsetCommitResponse& m, std::int16_t version, Writer& w);

// --- OffsetFetch (9), v0-v5 (v0 read ZooKeeper in old Kafka; decoded like v1)
struct OffsetFetchTopic {
  std::string name;
  std::vector<std::int32_t> partition_indexes;
};
struct OffsetFetchRequest {
  std::string group_id;
  // nullopt (v2+ only; refused before): every partition the group has offsets for.
  std::optional<std::vector<OffsetFetchTopic>> topics;
};
struct OffsetFetchPartitionResponse {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = 0;         // -1: no offset committed
  std::int32_t committed_leader_epoch = -1;  // v5+
  std::optional<std::string> metadata;
  std::int16_t error_code = 0;
};
struct OffsetFetchTopicResponse {
  std::string name;
  std::vector<OffsetFetchPartitionResponse> partitions;
};
struct OffsetFetchResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<OffsetFetchTopicResponse> topics;
  std::int16_t error_code = 0;  // v2+: group or coordinator errors
};
samsa::Result<OffsetFetchRequest> decode_offset_fetch(Reader& r, std::int16_t version);
void encode(const OffsetFetchResponse& m, std::int16_t version, Writer& w);

// --- JoinGroup (11), v0-v5
struct JoinGroupProtocol {
  std::string name;
  std::vector<std::byte> metadata;
};
struct JoinGroupRequest {
  std::string group_id;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = -1;        // v1+; -1 (v0): the session timeout
  std::string member_id;                         // "" on a first join
  std::optional<std::string> group_instance_id;  // v5+
  std::string protocol_type;
  std::vector<JoinGroupProtocol> protocols;
};
struct JoinGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v5+
  std::vector<std::byte> metadata;
};
struct JoinGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::int16_t error_code = 0;
  std::int32_t generation_id = -1;
  std::string protocol_name;  // nullable only from v7 (flexible), so a plain string here
  std::string leader;
  std::string member_id;
  std::vector<JoinGroupMember> members;  // the leader's response only
};
samsa::Result<JoinGroupRequest> decode_join_group(Reader& r, std::int16_t version);
void encode(const JoinGroupResponse& m, std::int16_t version, Writer& w);

// --- Heartbeat (12), v0-v3
struct HeartbeatRequest {
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
};
struct HeartbeatResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
};
samsa::Result<HeartbeatRequest> decode_heartbeat(Reader& r, std::int16_t version);
void encode(const HeartbeatResponse& m, std::int16_t version, Writer& w);

// --- LeaveGroup (13), v0-v3: v0-v2 name one member, v3 a batch
struct LeaveGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
};
struct LeaveGroupRequest {
  std::string group_id;
  std::string member_id;                  // v0-v2
  std::vector<LeaveGroupMember> members;  // v3+
};
struct LeaveGroupMemberResponse {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::int16_t error_code = 0;
};
struct LeaveGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<LeaveGroupMemberResponse> members;  // v3+
};
samsa::Result<LeaveGroupRequest> decode_leave_group(Reader& r, std::int16_t version);
void encode(const LeaveGroupResponse& m, std::int16_t version, Writer& w);

// --- SyncGroup (14), v0-v3
struct SyncGroupAssignment {
  std::string member_id;
  std::vector<std::byte> assignment;
};
struct SyncGroupRequest {
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
  std::vector<SyncGroupAssignment> assignments;  // the leader's request only
};
struct SyncGroupResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<std::byte> assignment;
};
samsa::Result<SyncGroupRequest> decode_sync_group(Reader& r, std::int16_t version);
void encode(const SyncGroupResponse& m, std::int16_t version, Writer& w);

// --- DescribeGroups (15), v0-v4
struct DescribeGroupsRequest {
  std::vector<std::string> groups;
  bool include_authorized_operations = false;  // v3+
};
struct DescribedGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v4+
  std::string client_id;
  std::string client_host;
  std::vector<std::byte> member_metadata;
  std::vector<std::byte> member_assignment;
};
struct DescribedGroup {
  std::int16_t error_code = 0;
  std::string group_id;
  std::string group_state;
  std::string protocol_type;
  std::string protocol_data;
  std::vector<DescribedGroupMember> members;
  // v3+; INT32_MIN: not requested (include_authorized_operations false).
  std::int32_t authorized_operations = std::numeric_limits<std::int32_t>::min();
};
struct DescribeGroupsResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::vector<DescribedGroup> groups;
};
samsa::Result<DescribeGroupsRequest> decode_describe_groups(Reader& r, std::int16_t version);
void encode(const DescribeGroupsResponse& m, std::int16_t version, Writer& w);

// --- ListGroups (16), v0-v2: the request has no fields (filters come in v4)
struct ListGroupsRequest {};
struct ListedGroup {
  std::string group_id;
  std::string protocol_type;
};
struct ListGroupsResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::vector<ListedGroup> groups;
};
samsa::Result<ListGroupsRequest> decode_list_groups(Reader& r, std::int16_t version);
void encode(const ListGroupsResponse& m, std::int16_t version, Writer& w);

// --- DeleteGroups (42), v0-v1
struct DeleteGroupsRequest {
  std::vector<std::string> groups_names;  // Kafka's spelling (GroupsNames)
};
struct DeletableGroupResult {
  std::string group_id;
  std::int16_t error_code = 0;
};
struct DeleteGroupsResponse {
  std::int32_t throttle_time_ms = 0;  // v0+ (unlike most, already in v0)
  std::vector<DeletableGroupResult> results;
};
samsa::Result<DeleteGroupsRequest> decode_delete_groups(Reader& r, std::int16_t version);
void encode(const DeleteGroupsResponse& m, std::int16_t version, Writer& w);

// --- OffsetDelete (47), v0
struct OffsetDeletePartition {
  std::int32_t partition_index = 0;
};
struct OffsetDeleteTopic {
  std::string name;
  std::vector<OffsetDeletePartition> partitions;
};
struct OffsetDeleteRequest {
  std::string group_id;
  std::vector<OffsetDeleteTopic> topics;
};
struct OffsetDeletePartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
};
struct OffsetDeleteTopicResponse {
  std::string name;
  std::vector<OffsetDeletePartitionResponse> partitions;
};
struct OffsetDeleteResponse {
  std::int16_t error_code = 0;  // before the throttle time, unlike every other response
  std::int32_t throttle_time_ms = 0;
  std::vector<OffsetDeleteTopicResponse> topics;
};
samsa::Result<OffsetDeleteRequest> decode_offset_delete(Reader& r, std::int16_t version);
void encode(const OffsetDeleteResponse& m, std::int16_t version, Writer& w);

}  // namespace samsa_server
