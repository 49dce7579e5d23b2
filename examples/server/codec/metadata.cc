// Metadata (key 3), v0-v6. MetadataRequest.json / MetadataResponse.json.
#include "codec/messages.h"

namespace samsa_server {

samsa::Result<MetadataRequest> decode_metadata(Reader& r, std::int16_t version) {
  MetadataRequest m;
  // v0: an empty array means all topics; v1+: null means all, empty means none.
  const std::int32_t n = r.array_length(2, /*nullable=*/version >= 1);
  if (n >= 0) {
    m.topics.emplace();
    for (std::int32_t i = 0; i < n && !r.failed(); ++i) m.topics->push_back(r.string());
    if (version == 0 && n == 0) m.topics.reset();
  }
  if (version >= 4) m.allow_auto_topic_creation = r.boolean();
  if (r.failed()) return decode_error("Metadata", r);
  return m;
}

namespace {

void encode_ids(const std::vector<std::int32_t>& ids, Writer& w) {
  w.array_length(ids.size());
  for (std::int32_t id : ids) w.i32(id);
}

void encode_topic(const MetadataTopic& t, std::int16_t version, Writer& w) {
  w.i16(t.error_code);
  w.string(t.name);
  if (version >= 1) w.boolean(t.is_internal);
  w.array_length(t.partitions.size());
  for (const MetadataPartition& p : t.partitions) {
    w.i16(p.error_code);
    w.i32(p.partition_index);
    w.i32(p.leader_id);
    encode_ids(p.replica_nodes, w);
    encode_ids(p.isr_nodes, w);
    if (version >= 5) encode_ids(p.offline_replicas, w);
  }
}

}  // namespace

void encode(const MetadataResponse& m, std::int16_t version, Writer& w) {
  if (version >= 3) w.i32(m.throttle_time_ms);
  w.array_length(m.brokers.size());
  for (const MetadataBroker& b : m.brokers) {
    w.i32(b.node_id);
    w.string(b.host);
    w.i32(b.port);
    if (version >= 1) w.nullable_string(b.rack);
  }
  if (version >= 2) w.nullable_string(m.cluster_id);
  if (version >= 1) w.i32(m.controller_id);
  w.array_length(m.topics.size());
  for (const MetadataTopic& t : m.topics) encode_topic(t, version, w);
}

}  // namespace samsa_server
