// The admin APIs the server implements so far, in the layout of codec/messages.h: a struct
// per request and response, a decoder and an encoder per API key.
// Field lists and versions: apache/kafka clients/src/main/resources/common/message/*.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codec/messages.h"

namespace samsa_server {

// --- CreateTopics (19), v0-v4 (v5 is flexible)
struct CreatableReplicaAssignment {
  std::int32_t partition_index = 0;
  std::vector<std::int32_t> broker_ids;
};
struct CreatableTopicConfig {
  std::string name;
  std::optional<std::string> value;
};
struct CreatableTopic {
  std::string name;
  std::int32_t num_partitions = -1;      // -1: the broker's default (or the assignments)
  std::int16_t replication_factor = -1;  // -1: the broker's default
  std::vector<CreatableReplicaAssignment> assignments;
  std::vector<CreatableTopicConfig> configs;
};
struct CreateTopicsRequest {
  std::vector<CreatableTopic> topics;
  std::int32_t timeout_ms = 60000;
  bool validate_only = false;  // v1+
};
struct CreatableTopicResult {
  std::string name;
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;  // v1+
};
struct CreateTopicsResponse {
  std::int32_t throttle_time_ms = 0;  // v2+
  std::vector<CreatableTopicResult> topics;
};
samsa::Result<CreateTopicsRequest> decode_create_topics(Reader& r, std::int16_t version);
void encode(const CreateTopicsResponse& m, std::int16_t version, Writer& w);

// --- DescribeConfigs (32), v0-v3 (v4 is flexible)
struct DescribeConfigsResource {
  std::int8_t resource_type = 0;  // 2 topic, 4 broker
  std::string resource_name;
  std::optional<std::vector<std::string>> configuration_keys;  // nullopt: all
};
struct DescribeConfigsRequest {
  std::vector<DescribeConfigsResource> resources;
  bool include_synonyms = false;       // v1+
  bool include_documentation = false;  // v3+
};
struct DescribeConfigsSynonym {
  std::string name;
  std::optional<std::string> value;
  std::int8_t source = 0;
};
struct DescribeConfigsResourceResult {
  std::string name;
  std::optional<std::string> value;
  bool read_only = false;
  bool is_default = false;         // v0 only
  std::int8_t config_source = -1;  // v1+
  bool is_sensitive = false;
  std::vector<DescribeConfigsSynonym> synonyms;  // v1+
  std::int8_t config_type = 0;                   // v3+
  std::optional<std::string> documentation;      // v3+
};
struct DescribeConfigsResult {
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;
  std::int8_t resource_type = 0;
  std::string resource_name;
  std::vector<DescribeConfigsResourceResult> configs;
};
struct DescribeConfigsResponse {
  std::int32_t throttle_time_ms = 0;
  std::vector<DescribeConfigsResult> results;
};
samsa::Result<DescribeConfigsRequest> decode_describe_configs(Reader& r, std::int16_t version);
void encode(const DescribeConfigsResponse& m, std::int16_t version, Writer& w);

}  // namespace samsa_server
