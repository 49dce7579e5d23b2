// Kafka protocol constants the server uses: API keys, the version ranges it implements (what
// ApiVersions advertises, and nothing more), error codes, the request header and a response
// made of byte chunks and file ranges (so Fetch can hand segment bytes to sendfile).
//
// Facts from apache/kafka clients/src/main/resources/common/message/*.json.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "samsa/env.h"
#include "samsa/status.h"

namespace samsa_server {

enum class ApiKey : std::int16_t {
  produce = 0,
  fetch = 1,
  list_offsets = 2,
  metadata = 3,
  offset_commit = 8,
  offset_fetch = 9,
  find_coordinator = 10,
  join_group = 11,
  heartbeat = 12,
  leave_group = 13,
  sync_group = 14,
  describe_groups = 15,
  list_groups = 16,
  api_versions = 18,
  create_topics = 19,
  describe_configs = 32,
  init_producer_id = 22,
  delete_groups = 42,
  offset_delete = 47,
};

struct ApiVersionRange {
  std::int16_t api_key = 0;
  std::int16_t min_version = 0;
  std::int16_t max_version = 0;
  friend bool operator==(const ApiVersionRange&, const ApiVersionRange&) = default;
};

// Every API the server implements, with exactly the versions implemented, sorted by key.
std::span<const ApiVersionRange> supported_apis();
// The range for `key`, or nullopt when the server does not implement it.
std::optional<ApiVersionRange> supported_range(std::int16_t key);
bool is_supported(std::int16_t key, std::int16_t version);
// "Produce", "Fetch", ... ("ApiKey(N)" for others); metric labels and logs.
std::string api_name(std::int16_t key);

// Kafka's error codes (org.apache.kafka.common.protocol.Errors).
namespace error {
constexpr std::int16_t kUnknownServerError = -1;
constexpr std::int16_t kNone = 0;
constexpr std::int16_t kOffsetOutOfRange = 1;
constexpr std::int16_t kCorruptMessage = 2;
constexpr std::int16_t kUnknownTopicOrPartition = 3;
constexpr std::int16_t kMessageTooLarge = 10;
constexpr std::int16_t kOffsetMetadataTooLarge = 12;
constexpr std::int16_t kCoordinatorLoadInProgress = 14;
constexpr std::int16_t kCoordinatorNotAvailable = 15;
constexpr std::int16_t kNotCoordinator = 16;
constexpr std::int16_t kInvalidTopicException = 17;
constexpr std::int16_t kInvalidRequiredAcks = 21;
constexpr std::int16_t kIllegalGeneration = 22;
constexpr std::int16_t kInconsistentGroupProtocol = 23;
constexpr std::int16_t kInvalidGroupId = 24;
constexpr std::int16_t kUnknownMemberId = 25;
constexpr std::int16_t kInvalidSessionTimeout = 26;
constexpr std::int16_t kRebalanceInProgress = 27;
constexpr std::int16_t kInvalidCommitOffsetSize = 28;
constexpr std::int16_t kUnsupportedVersion = 35;
constexpr std::int16_t kTopicAlreadyExists = 36;
constexpr std::int16_t kInvalidPartitions = 37;
constexpr std::int16_t kInvalidReplicationFactor = 38;
constexpr std::int16_t kInvalidReplicaAssignment = 39;
constexpr std::int16_t kInvalidConfig = 40;
constexpr std::int16_t kInvalidRequest = 42;
constexpr std::int16_t kUnsupportedForMessageFormat = 43;
constexpr std::int16_t kOutOfOrderSequenceNumber = 45;
constexpr std::int16_t kInvalidProducerEpoch = 47;
constexpr std::int16_t kInvalidTxnState = 48;
constexpr std::int16_t kTransactionalIdAuthorizationFailed = 53;
constexpr std::int16_t kKafkaStorageError = 56;
constexpr std::int16_t kUnknownProducerId = 59;
constexpr std::int16_t kNonEmptyGroup = 68;
constexpr std::int16_t kGroupIdNotFound = 69;
constexpr std::int16_t kFetchSessionIdNotFound = 70;
constexpr std::int16_t kUnsupportedCompressionType = 76;
constexpr std::int16_t kMemberIdRequired = 79;
constexpr std::int16_t kGroupMaxSizeReached = 81;
constexpr std::int16_t kFencedInstanceId = 82;
constexpr std::int16_t kGroupSubscribedToTopic = 86;
constexpr std::int16_t kUnstableOffsetCommit = 88;
}  // namespace error

// Request header v1 (v2 adds tagged fields after client_id; only flexible requests use it).
struct RequestHeader {
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  std::int32_t correlation_id = 0;
  std::optional<std::string> client_id;
  std::size_t body_offset = 0;  // where the request body starts in the frame
};

// Reads the header of a request frame (without its size prefix). The first 8 bytes are read
// for any key and version (so an unsupported one can still be answered or logged); the
// client id and, for flexible requests, the tagged fields only for supported ones.
samsa::Result<RequestHeader> decode_request_header(samsa::MutableByteSpan frame);
// Whether (key, version) uses request header v2 and flexible encodings.
bool is_flexible(std::int16_t key, std::int16_t version);

// A byte range of an open file (a LogSlice), sent with sendfile.
struct FileRange {
  std::shared_ptr<samsa::File> file;
  std::uint64_t position = 0;
  std::uint64_t size = 0;
};
using Chunk = std::variant<std::vector<std::byte>, FileRange>;

// One response frame: the size prefix, the response header (correlation id; never tagged
// fields: no flexible response is implemented, and ApiVersions' response header is v0 even
// for v3) and the body, as chunks.
struct Response {
  std::vector<Chunk> chunks;
  std::uint64_t size_bytes() const;
  // The whole frame as bytes, file ranges read in (tests).
  samsa::Result<std::vector<std::byte>> flatten() const;
};

}  // namespace samsa_server
