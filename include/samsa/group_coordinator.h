// Floor 8: GroupCoordinator, Kafka's classic consumer-group protocol for the groups of one
// `__consumer_offsets` partition, as a pure state machine (house rule 2). It never does
// I/O: requests and ticks come in with the time as an argument; records to append to the
// partition and responses to send come out in a GroupReady; advance() says whether the
// append became durable.
//
//   In:  join_group, sync_group, offset_commit, delete_groups, offset_delete (answered in
//        a later GroupReady, by request id); heartbeat, leave_group, offset_fetch,
//        list_groups, describe_groups (answered at once); tick(now) for session, rebalance,
//        join-delay and sync timeouts and offset expiry; replay() of the partition's
//        records, then loaded(), at start.
//   Out: ready(): records (keys and values in group_records.h's schemas) and responses.
//
// Behaviour follows Kafka's GroupMetadataManager / ClassicGroup / OffsetMetadataManager
// (apache/kafka group-coordinator/): states Empty, PreparingRebalance, CompletingRebalance,
// Stable, Dead; KIP-394 member ids (JoinGroup v4+ gets MEMBER_ID_REQUIRED first); KIP-345
// static members; the initial rebalance delay; the leader's SyncGroup assignment is
// answered only once its group record is durable; offset commits are visible to
// OffsetFetch only once durable; KIP-211 offset expiry for empty groups.
//
// Member ids are "<client id or instance id>-<uuid>", the uuids from a generator seeded by
// the config and the time loaded() was called, so a run is deterministic from its inputs
// and a restarted coordinator does not hand out its predecessor's ids again.
//
// Thread-safety: not thread-safe; one owner drives it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "samsa/coding.h"
#include "samsa/group_records.h"
#include "samsa/kafka_error.h"
#include "samsa/status.h"

namespace samsa {

struct GroupCoordinatorConfig {
  std::int32_t min_session_timeout_ms = 6000;        // group.min.session.timeout.ms
  std::int32_t max_session_timeout_ms = 1800000;     // group.max.session.timeout.ms
  std::int32_t initial_rebalance_delay_ms = 3000;    // group.initial.rebalance.delay.ms
  std::int32_t new_member_join_timeout_ms = 300000;  // Kafka's classicGroupNewMemberJoinTimeoutMs
  std::int32_t max_group_size = 1000;                // group.max.size (Kafka: Integer.MAX_VALUE)
  std::int32_t offset_metadata_max_bytes = 4096;     // offset.metadata.max.bytes
  std::int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
  std::int64_t offsets_retention_check_interval_ms = 600000;   // ...check.interval.ms
  // samsa's bounds on what one member may make the coordinator hold (Kafka has none):
  // more is refused with INVALID_REQUEST, naming the bound.
  std::size_t max_group_id_bytes = 255;  // longer: INVALID_GROUP_ID
  std::size_t max_protocols_per_member = 64;
  std::size_t max_protocol_metadata_bytes = 1 << 20;  // all of a member's protocols
  std::size_t max_assignment_bytes = 1 << 20;         // one member's assignment
  std::uint64_t seed = 1;                             // member-id uuids
};

using GroupRequestId = std::uint64_t;

// --- requests and responses: the fields of Kafka's RPCs (clients/.../common/message/)

struct JoinGroupProtocol {
  std::string name;
  std::vector<std::byte> metadata;
  friend bool operator==(const JoinGroupProtocol&, const JoinGroupProtocol&) = default;
};
struct JoinGroupRequest {
  std::string group_id;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = -1;  // v1+; -1 (v0): the session timeout
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v5+
  std::string protocol_type;
  std::vector<JoinGroupProtocol> protocols;
  // From the request header and connection.
  std::int16_t api_version = 0;  // v4+ requires a known member id (KIP-394)
  std::string client_id;
  std::string client_host;
};
struct JoinGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<std::byte> metadata;
};
struct JoinGroupResponse {
  KafkaError error_code = KafkaError::none;
  std::int32_t generation_id = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<JoinGroupMember> members;  // the leader's response only
};

struct SyncGroupAssignment {
  std::string member_id;
  std::vector<std::byte> assignment;
};
struct SyncGroupRequest {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
  std::optional<std::string> protocol_type;      // v5+
  std::optional<std::string> protocol_name;      // v5+
  std::vector<SyncGroupAssignment> assignments;  // the leader's
};
struct SyncGroupResponse {
  KafkaError error_code = KafkaError::none;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<std::byte> assignment;
};

struct HeartbeatRequest {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
};

struct LeaveGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
};
struct LeaveGroupRequest {
  std::string group_id;
  std::vector<LeaveGroupMember> members;  // v0-v2: one, from MemberId
};
struct LeaveGroupMemberResponse {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  KafkaError error_code = KafkaError::none;
};
struct LeaveGroupResponse {
  // The request's error (unknown group, not loaded, ...); each member's is its own. A host
  // answering LeaveGroup v0-v2 puts the member's error at the top level (Kafka's
  // LeaveGroupResponse does).
  KafkaError error_code = KafkaError::none;
  std::vector<LeaveGroupMemberResponse> members;
};

struct OffsetCommitPartition {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = 0;
  std::int32_t committed_leader_epoch = -1;
  std::optional<std::string> committed_metadata;
};
struct OffsetCommitTopic {
  std::string name;
  std::vector<OffsetCommitPartition> partitions;
};
struct OffsetCommitRequest {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::int64_t retention_time_ms = -1;  // v2-v4
  std::vector<OffsetCommitTopic> topics;
};
struct OffsetCommitPartitionResponse {
  std::int32_t partition_index = 0;
  KafkaError error_code = KafkaError::none;
};
struct OffsetCommitTopicResponse {
  std::string name;
  std::vector<OffsetCommitPartitionResponse> partitions;
};
struct OffsetCommitResponse {
  std::vector<OffsetCommitTopicResponse> topics;
};

struct OffsetFetchTopic {
  std::string name;
  std::vector<std::int32_t> partition_indexes;
};
struct OffsetFetchRequest {
  std::string group_id;
  std::optional<std::vector<OffsetFetchTopic>> topics;  // nullopt: every committed offset
};
struct OffsetFetchPartitionResponse {
  std::int32_t partition_index = 0;
  std::int64_t committed_offset = -1;
  std::int32_t committed_leader_epoch = -1;
  std::optional<std::string> metadata;
  KafkaError error_code = KafkaError::none;
};
struct OffsetFetchTopicResponse {
  std::string name;
  std::vector<OffsetFetchPartitionResponse> partitions;
};
struct OffsetFetchResponse {
  KafkaError error_code = KafkaError::none;
  std::vector<OffsetFetchTopicResponse> topics;
};

struct ListedGroup {
  std::string group_id;
  std::string protocol_type;
  std::string group_state;
};

struct DescribedGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::vector<std::byte> member_metadata;
  std::vector<std::byte> member_assignment;
};
struct DescribedGroup {
  KafkaError error_code = KafkaError::none;
  std::string group_id;
  std::string group_state;  // "Dead" for a group that does not exist
  std::string protocol_type;
  std::string protocol_data;  // the selected protocol
  std::vector<DescribedGroupMember> members;
};

struct DeleteGroupResult {
  std::string group_id;
  KafkaError error_code = KafkaError::none;
};
struct DeleteGroupsResponse {
  std::vector<DeleteGroupResult> results;
};

struct OffsetDeleteRequest {
  std::string group_id;
  std::vector<OffsetFetchTopic> topics;
};
struct OffsetDeleteResponse {
  KafkaError error_code = KafkaError::none;
  std::vector<OffsetCommitTopicResponse> topics;
};

using GroupResponseBody = std::variant<JoinGroupResponse, SyncGroupResponse, OffsetCommitResponse,
                                       DeleteGroupsResponse, OffsetDeleteResponse>;
struct GroupResponse {
  GroupRequestId request_id = 0;
  GroupResponseBody body;
};

// One record for the partition: key and value in group_records.h's schemas; no value is a
// tombstone.
struct GroupRecord {
  std::vector<std::byte> key;
  std::optional<std::vector<std::byte>> value;
};

// What the host must do, in this order:
//   1. Send `responses` (none of them depends on `records`).
//   2. If `records` is not empty: append them to the coordinator's partition as one batch
//      and wait until it is durable (and, on a replicated partition, committed); then call
//      advance(status of that append, now). Until then no later Ready carries records (one
//      append in flight); the responses that waited for these records come in a later
//      Ready, after advance().
struct GroupReady {
  std::vector<GroupRecord> records;
  std::vector<GroupResponse> responses;
  bool empty() const { return records.empty() && responses.empty(); }
};

struct GroupCoordinatorCounters {
  std::uint64_t rebalances_completed = 0;
  std::uint64_t members_expired = 0;
  std::uint64_t offsets_committed = 0;
  std::uint64_t offsets_expired = 0;
  std::uint64_t appends_failed = 0;
  std::uint64_t records_replayed = 0;
  std::uint64_t records_skipped = 0;  // keys of kinds samsa does not read (KIP-848's)
};

class GroupCoordinator {
 public:
  explicit GroupCoordinator(GroupCoordinatorConfig config);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Loading: every record of the partition in offset order (value nullopt: a tombstone),
  // then loaded(). Until loaded() every request is answered COORDINATOR_LOAD_IN_PROGRESS.
  // A record that does not parse is a corruption naming it; nothing is applied from it.
  Status replay(ByteSpan key, std::optional<ByteSpan> value);
  // Groups with members come back Stable, their members' sessions starting at `now`.
  void loaded(std::int64_t now);
  bool is_loaded() const;

  void join_group(GroupRequestId id, const JoinGroupRequest& request, std::int64_t now);
  void sync_group(GroupRequestId id, const SyncGroupRequest& request, std::int64_t now);
  void offset_commit(GroupRequestId id, const OffsetCommitRequest& request, std::int64_t now);
  void delete_groups(GroupRequestId id, const std::vector<std::string>& group_ids,
                     std::int64_t now);
  void offset_delete(GroupRequestId id, const OffsetDeleteRequest& request, std::int64_t now);

  KafkaError heartbeat(const HeartbeatRequest& request, std::int64_t now);
  LeaveGroupResponse leave_group(const LeaveGroupRequest& request, std::int64_t now);
  OffsetFetchResponse offset_fetch(const OffsetFetchRequest& request) const;
  // `states_filter` empty: all groups (ListGroups v4's StatesFilter).
  std::vector<ListedGroup> list_groups(const std::vector<std::string>& states_filter = {}) const;
  std::vector<DescribedGroup> describe_groups(const std::vector<std::string>& group_ids) const;

  void tick(std::int64_t now);

  bool has_ready() const;
  // Takes the pending responses and, when no append is in flight, the pending records.
  GroupReady ready();
  // The outcome of appending the last Ready's records.
  void advance(const Status& append_status, std::int64_t now);

  // The committed offset of a group's partition (lag in metrics), if any.
  std::optional<std::int64_t> committed_offset(const std::string& group, const std::string& topic,
                                               std::int32_t partition) const;
  const GroupCoordinatorCounters& counters() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The error a host reports to a group client when an append to the offsets partition
// failed with `status` (Kafka's appendGroupMetadataErrorToResponseError).
KafkaError group_append_error(const Status& status);

}  // namespace samsa
