// OffsetDelete (key 47), v0. OffsetDeleteRequest.json / OffsetDeleteResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<OffsetDeleteRequest> decode_offset_delete(Reader& r, std::int16_t /*version*/) {
  OffsetDeleteRequest m;
  m.group_id = r.string();
  // A topic takes at least its name length (2) and partition count (4).
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    OffsetDeleteTopic& topic = m.topics.emplace_back();
    topic.name = r.string();
    const std::int32_t partitions = r.array_length(4);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      topic.partitions.push_back({r.i32()});
    }
  }
  if (r.failed()) return decode_error("OffsetDelete", r);
  return m;
}

void encode(const OffsetDeleteResponse& m, std::int16_t /*version*/, Writer& w) {
  w.i16(m.error_code);
  w.i32(m.throttle_time_ms);
  w.array_length(m.topics.size());
  for (const OffsetDeleteTopicResponse& t : m.topics) {
    w.string(t.name);
    w.array_length(t.partitions.size());
    for (const OffsetDeletePartitionResponse& p : t.partitions) {
      w.i32(p.partition_index);
      w.i16(p.error_code);
    }
  }
}

}  // namespace samsa_server
