// OffsetFetch (key 9), v0-v5. OffsetFetchRequest.json / OffsetFetchResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<OffsetFetchRequest> decode_offset_fetch(Reader& r, std::int16_t version) {
  OffsetFetchRequest m;
  m.group_id = r.string();
  // A topic takes at least its name length (2) and partition count (4). Null (all topics)
  // exists from v2.
  const std::int32_t topics = r.array_length(6, /*nullable=*/version >= 2);
  if (topics >= 0) {
    m.topics.emplace();
    for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
      OffsetFetchTopic& topic = m.topics->emplace_back();
      topic.name = r.string();
      const std::int32_t partitions = r.array_length(4);
      for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
        topic.partition_indexes.push_back(r.i32());
      }
    }
  }
  if (r.failed()) return decode_error("OffsetFetch", r);
  return m;
}

void encode(const OffsetFetchResponse& m, std::int16_t version, Writer& w) {
  if (version >= 3) w.i32(m.throttle_time_ms);
  w.array_length(m.topics.size());
  for (const OffsetFetchTopicResponse& t : m.topics) {
    w.string(t.name);
    w.array_length(t.partitions.size());
    for (const OffsetFetchPartitionResponse& p : t.partitions) {
      w.i32(p.partition_index);
      w.i64(p.committed_offset);
      if (version >= 5) w.i32(p.committed_leader_epoch);
      w.nullable_string(p.metadata);
      w.i16(p.error_code);
    }
  }
  if (version >= 2) w.i16(m.error_code);
}

}  // namespace samsa_server
