// Floor 8: the records of Kafka's `__consumer_offsets` topic, in Kafka's schemas
// (apache/kafka group-coordinator/src/main/resources/common/message/): a record's key and
// value each start with an int16 schema version. Offset commits are keyed by
// OffsetCommitKey (version 1; 0 is read too), groups by GroupMetadataKey (version 2); a
// null value is a tombstone. Values are written at the versions Kafka 3.x writes:
// OffsetCommitValue v3 (v1 when an expire timestamp is set), GroupMetadataValue v3. Every
// version 0-4 is read (4 is flexible). Other keys (the consumer-group protocol's, KIP-848)
// are reported as such so a loader can skip them.
//
// Thread-safety: free functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "samsa/coding.h"
#include "samsa/status.h"

namespace samsa {

struct OffsetCommitKey {
  std::string group;
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const OffsetCommitKey&, const OffsetCommitKey&) = default;
};

struct OffsetCommitValue {
  std::int64_t offset = 0;
  std::int32_t leader_epoch = -1;  // v3+
  std::string metadata;
  std::int64_t commit_timestamp = 0;
  std::int64_t expire_timestamp = -1;  // v1 only
  friend bool operator==(const OffsetCommitValue&, const OffsetCommitValue&) = default;
};

struct GroupMetadataKey {
  std::string group;
  friend bool operator==(const GroupMetadataKey&, const GroupMetadataKey&) = default;
};

struct GroupMemberMetadata {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
  std::string client_id;
  std::string client_host;
  std::int32_t rebalance_timeout = -1;  // v1+
  std::int32_t session_timeout = 0;
  std::vector<std::byte> subscription;
  std::vector<std::byte> assignment;
  friend bool operator==(const GroupMemberMetadata&, const GroupMemberMetadata&) = default;
};

struct GroupMetadataValue {
  std::string protocol_type;
  std::int32_t generation = 0;
  std::optional<std::string> protocol;
  std::optional<std::string> leader;
  std::int64_t current_state_timestamp = -1;  // v2+
  std::vector<GroupMemberMetadata> members;
  friend bool operator==(const GroupMetadataValue&, const GroupMetadataValue&) = default;
};

// A key of a kind samsa does not read (its version), kept so a loader can count it.
struct OtherGroupKey {
  std::int16_t version = 0;
};

using GroupRecordKey = std::variant<OffsetCommitKey, GroupMetadataKey, OtherGroupKey>;

std::vector<std::byte> encode_group_key(const OffsetCommitKey& key);
std::vector<std::byte> encode_group_key(const GroupMetadataKey& key);
std::vector<std::byte> encode_group_value(const OffsetCommitValue& value);
std::vector<std::byte> encode_group_value(const GroupMetadataValue& value);

// Corruption naming the field and byte on bytes that do not parse.
Result<GroupRecordKey> decode_group_key(ByteSpan key);
Result<OffsetCommitValue> decode_offset_commit_value(ByteSpan value);
Result<GroupMetadataValue> decode_group_metadata_value(ByteSpan value);

// The `__consumer_offsets` partition that holds `group_id`: Kafka's
// Utils.abs(groupId.hashCode()) % partitions, with Java's String.hashCode over the
// UTF-16 code units of the id (invalid UTF-8 counts as U+FFFD, as Java decodes it).
std::int32_t group_partition(std::string_view group_id, std::int32_t partitions);

// The topics of a consumer-protocol subscription (ConsumerProtocolSubscription, any
// version: version int16, then an array of topic strings), or nullopt when the bytes do not
// parse as one.
std::optional<std::vector<std::string>> consumer_subscription_topics(ByteSpan subscription);

// The partitions of a consumer-protocol assignment (ConsumerProtocolAssignment, any
// version: version int16, then an array of (topic string, partitions int32 array)), or
// nullopt when the bytes do not parse as one.
struct ConsumerAssignedTopic {
  std::string topic;
  std::vector<std::int32_t> partitions;
};
std::optional<std::vector<ConsumerAssignedTopic>> consumer_assignment_partitions(
    ByteSpan assignment);

}  // namespace samsa
