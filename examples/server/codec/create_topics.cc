// CreateTopics (key 19), v0-v4. CreateTopicsRequest.json / CreateTopicsResponse.json.
#include "codec/admin_messages.h"

namespace samsa_server {

samsa::Result<CreateTopicsRequest> decode_create_topics(Reader& r, std::int16_t version) {
  CreateTopicsRequest m;
  // A topic takes at least a name length, partitions, factor and two array lengths.
  const std::int32_t topics = r.array_length(2 + 4 + 2 + 4 + 4);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    CreatableTopic& topic = m.topics.emplace_back();
    topic.name = r.string();
    topic.num_partitions = r.i32();
    topic.replication_factor = r.i16();
    const std::int32_t assignments = r.array_length(8);
    for (std::int32_t a = 0; a < assignments && !r.failed(); ++a) {
      CreatableReplicaAssignment& ra = topic.assignments.emplace_back();
      ra.partition_index = r.i32();
      const std::int32_t brokers = r.array_length(4);
      for (std::int32_t b = 0; b < brokers && !r.failed(); ++b) ra.broker_ids.push_back(r.i32());
    }
    const std::int32_t configs = r.array_length(4);
    for (std::int32_t c = 0; c < configs && !r.failed(); ++c) {
      CreatableTopicConfig& config = topic.configs.emplace_back();
      config.name = r.string();
      config.value = r.nullable_string();
    }
  }
  m.timeout_ms = r.i32();
  if (version >= 1) m.validate_only = r.boolean();
  if (r.failed()) return decode_error("CreateTopics", r);
  return m;
}

void encode(const CreateTopicsResponse& m, std::int16_t version, Writer& w) {
  if (version >= 2) w.i32(m.throttle_time_ms);
  w.array_length(m.topics.size());
  for (const CreatableTopicResult& t : m.topics) {
    w.string(t.name);
    w.i16(t.error_code);
    if (version >= 1) w.nullable_string(t.error_message);
  }
}

}  // namespace samsa_server
