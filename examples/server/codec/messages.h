// The requests and responses the server implements, as plain structs, with a decoder per
// request and an encoder per response (one .cc per API key). Decoders read untrusted bytes
// and return invalid_argument naming the bad field's byte; encoders cannot fail.
// Field lists and versions: apache/kafka clients/src/main/resources/common/message/*.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codec/protocol.h"
#include "codec/wire.h"
#include "samsa/log.h"

namespace samsa_server {

// Builds a response frame: size prefix, correlation id, body; file ranges in between.
class ResponseWriter {
 public:
  explicit ResponseWriter(std::int32_t correlation_id);
  Writer& body() { return w_; }
  // Puts `range` after what is written so far; writing continues after it.
  void file(FileRange range);
  Response finish();

 private:
  Writer w_;
  std::vector<Chunk> chunks_;
};

// --- ApiVersions (18), v0-v3; v3 is flexible
struct ApiVersionsRequest {
  std::string client_software_name;  // v3+
  std::string client_software_version;
};
struct ApiVersionsResponse {
  std::int16_t error_code = 0;
  std::vector<ApiVersionRange> api_keys;
  std::int32_t throttle_time_ms = 0;
};
samsa::Result<ApiVersionsRequest> decode_api_versions(Reader& r, std::int16_t version);
// An unsupported `version` is encoded as v0 (what a client that sent it can read).
void encode(const ApiVersionsResponse& m, std::int16_t version, Writer& w);
// KIP-511: client software name and version match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
bool valid_client_software_field(std::string_view s);

// --- Metadata (3), v0-v6
struct MetadataRequest {
  std::optional<std::vector<std::string>> topics;  // nullopt: all topics
  bool allow_auto_topic_creation = true;           // v4+
};
struct MetadataPartition {
  std::int16_t error_code = 0;
  std::int32_t partition_index = 0;
  std::int32_t leader_id = 0;
  std::vector<std::int32_t> replica_nodes;
  std::vector<std::int32_t> isr_nodes;
  std::vector<std::int32_t> offline_replicas;  // v5+
};
struct MetadataTopic {
  std::int16_t error_code = 0;
  std::string name;
  bool is_internal = false;  // v1+
  std::vector<MetadataPartition> partitions;
};
struct MetadataBroker {
  std::int32_t node_id = 0;
  std::string host;
  std::int32_t port = 0;
  std::optional<std::string> rack;  // v1+
};
struct MetadataResponse {
  std::int32_t throttle_time_ms = 0;  // v3+
  std::vector<MetadataBroker> brokers;
  std::optional<std::string> cluster_id;  // v2+
  std::int32_t controller_id = -1;        // v1+
  std::vector<MetadataTopic> topics;
};
samsa::Result<MetadataRequest> decode_metadata(Reader& r, std::int16_t version);
void encode(const MetadataResponse& m, std::int16_t version, Writer& w);

// --- Produce (0), v0-v7 (v0-v2 carry magic 0/1 message sets, converted to one v2 batch)
struct ProducePartitionData {
  std::int32_t index = 0;
  std::optional<MutableByteSpan> records;  // a view into the request frame
};
struct ProduceTopicData {
  std::string name;
  std::vector<ProducePartitionData> partitions;
};
struct ProduceRequest {
  std::optional<std::string> transactional_id;  // v3+
  std::int16_t acks = -1;
  std::int32_t timeout_ms = 0;
  std::vector<ProduceTopicData> topics;
};
struct ProducePartitionResponse {
  std::int32_t index = 0;
  std::int16_t error_code = 0;
  std::int64_t base_offset = -1;
  std::int64_t log_append_time_ms = -1;  // v2+
  std::int64_t log_start_offset = -1;    // v5+
};
struct ProduceTopicResponse {
  std::string name;
  std::vector<ProducePartitionResponse> partitions;
};
struct ProduceResponse {
  std::vector<ProduceTopicResponse> responses;
  std::int32_t throttle_time_ms = 0;  // v1+
};
samsa::Result<ProduceRequest> decode_produce(Reader& r, std::int16_t version);
void encode(const ProduceResponse& m, std::int16_t version, Writer& w);

// --- Fetch (1), v4-v11
struct FetchPartition {
  std::int32_t partition = 0;
  std::int32_t current_leader_epoch = -1;  // v9+
  std::int64_t fetch_offset = 0;
  std::int64_t log_start_offset = -1;  // v5+
  std::int32_t partition_max_bytes = 0;
};
struct FetchTopic {
  std::string topic;
  std::vector<FetchPartition> partitions;
};
struct ForgottenTopic {
  std::string topic;
  std::vector<std::int32_t> partitions;
};
struct FetchRequest {
  std::int32_t replica_id = -1;
  std::int32_t max_wait_ms = 0;
  std::int32_t min_bytes = 0;
  std::int32_t max_bytes = 0x7fffffff;
  std::int8_t isolation_level = 0;
  std::int32_t session_id = 0;      // v7+
  std::int32_t session_epoch = -1;  // v7+
  std::vector<FetchTopic> topics;
  std::vector<ForgottenTopic> forgotten;  // v7+
  std::string rack_id;                    // v11+
};
struct FetchPartitionResponse {
  std::int32_t partition = 0;
  std::int16_t error_code = 0;
  std::int64_t high_watermark = -1;
  std::int64_t last_stable_offset = -1;      // v4+
  std::int64_t log_start_offset = -1;        // v5+
  std::int32_t preferred_read_replica = -1;  // v11+
  // Whole batches from a segment file. Sent as a zero-length record set when empty.
  samsa::LogSlice records;
};
struct FetchTopicResponse {
  std::string topic;
  std::vector<FetchPartitionResponse> partitions;
};
struct FetchResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;  // v7+
  std::int32_t session_id = 0;  // v7+
  std::vector<FetchTopicResponse> responses;
};
samsa::Result<FetchRequest> decode_fetch(Reader& r, std::int16_t version);
// Record sets go in as file ranges (sendfile) when their file has an OS descriptor, else
// they are read in; a read error is returned.
samsa::Status encode(const FetchResponse& m, std::int16_t version, ResponseWriter& out);

// --- ListOffsets (2), v0-v3
struct ListOffsetsPartition {
  std::int32_t partition_index = 0;
  std::int64_t timestamp = -1;
  std::int32_t max_num_offsets = 1;  // v0 only
};
struct ListOffsetsTopic {
  std::string name;
  std::vector<ListOffsetsPartition> partitions;
};
struct ListOffsetsRequest {
  std::int32_t replica_id = -1;
  std::int8_t isolation_level = 0;  // v2+
  std::vector<ListOffsetsTopic> topics;
};
struct ListOffsetsPartitionResponse {
  std::int32_t partition_index = 0;
  std::int16_t error_code = 0;
  std::vector<std::int64_t> old_style_offsets;  // v0 only
  std::int64_t timestamp = -1;                  // v1+
  std::int64_t offset = -1;                     // v1+
};
struct ListOffsetsTopicResponse {
  std::string name;
  std::vector<ListOffsetsPartitionResponse> partitions;
};
struct ListOffsetsResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::vector<ListOffsetsTopicResponse> topics;
};
samsa::Result<ListOffsetsRequest> decode_list_offsets(Reader& r, std::int16_t version);
void encode(const ListOffsetsResponse& m, std::int16_t version, Writer& w);

// --- InitProducerId (22), v0-v1
struct InitProducerIdRequest {
  std::optional<std::string> transactional_id;
  std::int32_t transaction_timeout_ms = 0;
};
struct InitProducerIdResponse {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
};
samsa::Result<InitProducerIdRequest> decode_init_producer_id(Reader& r, std::int16_t version);
void encode(const InitProducerIdResponse& m, std::int16_t version, Writer& w);

// --- FindCoordinator (10), v0-v2
struct FindCoordinatorRequest {
  std::string key;
  std::int8_t key_type = 0;  // v1+: 0 group, 1 transaction
};
struct FindCoordinatorResponse {
  std::int32_t throttle_time_ms = 0;  // v1+
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;  // v1+
  std::int32_t node_id = -1;
  std::string host;
  std::int32_t port = -1;
};
samsa::Result<FindCoordinatorRequest> decode_find_coordinator(Reader& r, std::int16_t version);
void encode(const FindCoordinatorResponse& m, std::int16_t version, Writer& w);

// A decoder's failure as a Status naming the API and the reader's error.
samsa::Status decode_error(std::string_view api, const Reader& r);

}  // namespace samsa_server
