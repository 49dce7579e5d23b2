// Produce (key 0), v0-v7. ProduceRequest.json / ProduceResponse.json.
#include "codec/messages.h"

namespace samsa_server {

samsa::Result<ProduceRequest> decode_produce(Reader& r, std::int16_t version) {
  ProduceRequest m;
  if (version >= 3) m.transactional_id = r.nullable_string();
  m.acks = r.i16();
  m.timeout_ms = r.i32();
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    ProduceTopicData& topic = m.topics.emplace_back();
    topic.name = r.string();
    const std::int32_t partitions = r.array_length(8);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      ProducePartitionData& part = topic.partitions.emplace_back();
      part.index = r.i32();
      part.records = r.nullable_bytes();
    }
  }
  if (r.failed()) return decode_error("Produce", r);
  return m;
}

void encode(const ProduceResponse& m, std::int16_t version, Writer& w) {
  w.array_length(m.responses.size());
  for (const ProduceTopicResponse& t : m.responses) {
    w.string(t.name);
    w.array_length(t.partitions.size());
    for (const ProducePartitionResponse& p : t.partitions) {
      w.i32(p.index);
      w.i16(p.error_code);
      w.i64(p.base_offset);
      if (version >= 2) w.i64(p.log_append_time_ms);
      if (version >= 5) w.i64(p.log_start_offset);
    }
  }
  if (version >= 1) w.i32(m.throttle_time_ms);
}

}  // namespace samsa_server
