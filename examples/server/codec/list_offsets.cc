// ListOffsets (key 2), v0-v3. ListOffsetsRequest.json / ListOffsetsResponse.json.
#include "codec/messages.h"

namespace samsa_server {

samsa::Result<ListOffsetsRequest> decode_list_offsets(Reader& r, std::int16_t version) {
  ListOffsetsRequest m;
  m.replica_id = r.i32();
  if (version >= 2) m.isolation_level = r.i8();
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    ListOffsetsTopic& topic = m.topics.emplace_back();
    topic.name = r.string();
    const std::int32_t partitions = r.array_length(12);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      ListOffsetsPartition& part = topic.partitions.emplace_back();
      part.partition_index = r.i32();
      part.timestamp = r.i64();
      if (version == 0) part.max_num_offsets = r.i32();
    }
  }
  if (r.failed()) return decode_error("ListOffsets", r);
  return m;
}

void encode(const ListOffsetsResponse& m, std::int16_t version, Writer& w) {
  if (version >= 2) w.i32(m.throttle_time_ms);
  w.array_length(m.topics.size());
  for (const ListOffsetsTopicResponse& t : m.topics) {
    w.string(t.name);
    w.array_length(t.partitions.size());
    for (const ListOffsetsPartitionResponse& p : t.partitions) {
      w.i32(p.partition_index);
      w.i16(p.error_code);
      if (version == 0) {
        w.array_length(p.old_style_offsets.size());
        for (std::int64_t o : p.old_style_offsets) w.i64(o);
      } else {
        w.i64(p.timestamp);
        w.i64(p.offset);
      }
    }
  }
}

}  // namespace samsa_server
