// OffsetCommit (key 8), v0-v7. OffsetCommitRequest.json / OffsetCommitResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

namespace {

// The smallest partition: index (4), offset (8), metadata length (2).
constexpr std::size_t kPartitionBytesMin = 14;
// The smallest topic: name length (2), partition count (4).
constexpr std::size_t kTopicBytesMin = 6;

void decode_partition(Reader& r, std::int16_t version, OffsetCommitPartition& p) {
  p.partition_index = r.i32();
  p.committed_offset = r.i64();
  if (version >= 6) p.committed_leader_epoch = r.i32();
  if (version == 1) p.commit_timestamp = r.i64();
  p.committed_metadata = r.nullable_string();
}

}  // namespace

samsa::Result<OffsetCommitRequest> decode_offset_commit(Reader& r, std::int16_t version) {
  OffsetCommitRequest m;
  m.group_id = r.string();
  if (version >= 1) {
    m.generation_id_or_member_epoch = r.i32();
    m.member_id = r.string();
  }
  if (version >= 7) m.group_instance_id = r.nullable_string();
  if (version >= 2 && version <= 4) m.retention_time_ms = r.i64();
  const std::int32_t topics = r.array_length(kTopicBytesMin);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    OffsetCommitTopic& topic = m.topics.emplace_back();
    topic.name = r.string();
    const std::int32_t partitions = r.array_length(kPartitionBytesMin);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      decode_partition(r, version, topic.partitions.emplace_back());
    }
  }
  if (r.failed()) return decode_error("OffsetCommit", r);
  return m;
}

void encode(const OffsetCommitResponse& m, std::int16_t version, Writer& w) {
  if (version >= 3) w.i32(m.throttle_time_ms);
  w.array_length(m.topics.size());
  for (const OffsetCommitTopicResponse& t : m.topics) {
    w.string(t.name);
    w.array_length(t.partitions.size());
    for (const OffsetCommitPartitionResponse& p : t.partitions) {
      w.i32(p.partition_index);
      w.i16(p.error_code);
    }
  }
}

}  // namespace samsa_server
