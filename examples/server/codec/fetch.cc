// Fetch (key 1), v4-v11. FetchRequest.json / FetchResponse.json.
#include "codec/messages.h"

namespace samsa_server {
namespace {

void decode_topics(Reader& r, std::int16_t version, std::vector<FetchTopic>& out) {
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    FetchTopic& topic = out.emplace_back();
    topic.topic = r.string();
    const std::int32_t partitions = r.array_length(16);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      FetchPartition& part = topic.partitions.emplace_back();
      part.partition = r.i32();
      if (version >= 9) part.current_leader_epoch = r.i32();
      part.fetch_offset = r.i64();
      if (version >= 5) part.log_start_offset = r.i64();
      part.partition_max_bytes = r.i32();
    }
  }
}

void decode_forgotten(Reader& r, std::vector<ForgottenTopic>& out) {
  const std::int32_t topics = r.array_length(6);
  for (std::int32_t t = 0; t < topics && !r.failed(); ++t) {
    ForgottenTopic& topic = out.emplace_back();
    topic.topic = r.string();
    const std::int32_t partitions = r.array_length(4);
    for (std::int32_t p = 0; p < partitions && !r.failed(); ++p) {
      topic.partitions.push_back(r.i32());
    }
  }
}

}  // namespace

samsa::Result<FetchRequest> decode_fetch(Reader& r, std::int16_t version) {
  FetchRequest m;
  m.replica_id = r.i32();
  m.max_wait_ms = r.i32();
  m.min_bytes = r.i32();
  m.max_bytes = r.i32();  // v3+
  m.isolation_level = r.i8();
  if (version >= 7) {
    m.session_id = r.i32();
    m.session_epoch = r.i32();
  }
  decode_topics(r, version, m.topics);
  if (version >= 7) decode_forgotten(r, m.forgotten);
  if (version >= 11) m.rack_id = r.string();
  if (r.failed()) return decode_error("Fetch", r);
  return m;
}

namespace {

samsa::Status encode_records(const samsa::LogSlice& slice, ResponseWriter& out) {
  Writer& w = out.body();
  w.i32(static_cast<std::int32_t>(slice.size_bytes));
  if (slice.empty()) return samsa::Status();
  if (slice.file->native_handle() >= 0) {
    out.file(FileRange{slice.file, slice.position.value(), slice.size_bytes});
    return samsa::Status();
  }
  std::vector<std::byte> bytes;
  SAMSA_TRY(slice.read_into(bytes));
  w.raw(bytes);
  return samsa::Status();
}

}  // namespace

samsa::Status encode(const FetchResponse& m, std::int16_t version, ResponseWriter& out) {
  Writer& w = out.body();
  w.i32(m.throttle_time_ms);
  if (version >= 7) {
    w.i16(m.error_code);
    w.i32(m.session_id);
  }
  w.array_length(m.responses.size());
  for (const FetchTopicResponse& t : m.responses) {
    w.string(t.topic);
    w.array_length(t.partitions.size());
    for (const FetchPartitionResponse& p : t.partitions) {
      w.i32(p.partition);
      w.i16(p.error_code);
      w.i64(p.high_watermark);
      w.i64(p.last_stable_offset);
      if (version >= 5) w.i64(p.log_start_offset);
      w.array_length(0);  // aborted transactions: none until transactions exist
      if (version >= 11) w.i32(p.preferred_read_replica);
      SAMSA_TRY(encode_records(p.records, out));
    }
  }
  return samsa::Status();
}

}  // namespace samsa_server
