#include "codec/protocol.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "codec/group_messages.h"
#include "codec/wire.h"

namespace samsa_server {
namespace {

// What ApiVersions advertises. Versions outside these ranges get the connection closed
// (Kafka's behaviour), except ApiVersions itself (answered with UNSUPPORTED_VERSION).
// Two entries are there for librdkafka (<= 2.10; Debian's is 2.0.2), which compresses with
// gzip, snappy or lz4 only when the broker's Produce range includes v0
// (rd_kafka_msgset_writer_select_MsgVersion) and with lz4 only when it lists FindCoordinator
// v0 (rdkafka_feature.c); without them it silently sends uncompressed batches. Produce
// v0-v2 requests are decoded and answered; the magic 0/1 message sets they carry are
// converted to one RecordBatch v2 (samsa stores v2 only), as Kafka 3.x converts them on
// append (handle_produce.cc, samsa::convert_legacy_message_set). The group APIs' ranges
// are the group codecs' (codec/group_messages.h): every non-flexible version.
// FindCoordinator finds the group coordinator; transaction coordinators do not exist here.
constexpr auto& kG = kGroupCodecVersions;
constexpr std::array<ApiVersionRange, 19> kSupported{{
    {0, 0, 7},   // Produce: v3 is the first with RecordBatch v2 only; v8 adds record errors
    {1, 4, 11},  // Fetch: v4 adds isolation level; v12 is flexible
    {2, 0, 3},   // ListOffsets: v4 adds leader epochs
    {3, 0, 6},   // Metadata: v7 adds leader epochs
    kG[0],       // OffsetCommit
    kG[1],       // OffsetFetch
    {10, 0, 2},  // FindCoordinator: v3 is flexible
    kG[2],       // JoinGroup
    kG[3],       // Heartbeat
    kG[4],       // LeaveGroup
    kG[5],       // SyncGroup
    kG[6],       // DescribeGroups
    kG[7],       // ListGroups
    {18, 0, 3},  // ApiVersions
    {19, 0, 4},  // CreateTopics: v5 is flexible
    {22, 0, 1},  // InitProducerId: v2 is flexible
    {32, 0, 3},  // DescribeConfigs: v4 is flexible
    kG[8],       // DeleteGroups
    kG[9],       // OffsetDelete
}};

}  // namespace

std::span<const ApiVersionRange> supported_apis() {
  return kSupported;
}

std::optional<ApiVersionRange> supported_range(std::int16_t key) {
  for (const ApiVersionRange& r : kSupported) {
    if (r.api_key == key) return r;
  }
  return std::nullopt;
}

bool is_supported(std::int16_t key, std::int16_t version) {
  auto r = supported_range(key);
  return r && version >= r->min_version && version <= r->max_version;
}

std::string api_name(std::int16_t key) {
  switch (static_cast<ApiKey>(key)) {
    case ApiKey::produce:
      return "Produce";
    case ApiKey::fetch:
      return "Fetch";
    case ApiKey::list_offsets:
      return "ListOffsets";
    case ApiKey::metadata:
      return "Metadata";
    case ApiKey::find_coordinator:
      return "FindCoordinator";
    case ApiKey::api_versions:
      return "ApiVersions";
    case ApiKey::create_topics:
      return "CreateTopics";
    case ApiKey::describe_configs:
      return "DescribeConfigs";
    case ApiKey::init_producer_id:
      return "InitProducerId";
    case ApiKey::offset_commit:
      return "OffsetCommit";
    case ApiKey::offset_fetch:
      return "OffsetFetch";
    case ApiKey::join_group:
      return "JoinGroup";
    case ApiKey::heartbeat:
      return "Heartbeat";
    case ApiKey::leave_group:
      return "LeaveGroup";
    case ApiKey::sync_group:
      return "SyncGroup";
    case ApiKey::describe_groups:
      return "DescribeGroups";
    case ApiKey::list_groups:
      return "ListGroups";
    case ApiKey::delete_groups:
      return "DeleteGroups";
    case ApiKey::offset_delete:
      return "OffsetDelete";
  }
  return fmt::format("ApiKey({})", key);
}

bool is_flexible(std::int16_t key, std::int16_t version) {
  // Of the versions implemented, only ApiVersions v3 is flexible.
  return key == static_cast<std::int16_t>(ApiKey::api_versions) && version >= 3;
}

samsa::Result<RequestHeader> decode_request_header(samsa::MutableByteSpan frame) {
  Reader r(frame);
  RequestHeader h;
  h.api_key = r.i16();
  h.api_version = r.i16();
  h.correlation_id = r.i32();
  if (r.failed()) return samsa::Status::invalid_argument("request header: " + r.error());
  if (supported_range(h.api_key)) {
    h.client_id = r.nullable_string();
    if (is_flexible(h.api_key, h.api_version) && is_supported(h.api_key, h.api_version)) {
      r.skip_tagged_fields();
    }
  }
  if (r.failed()) return samsa::Status::invalid_argument("request header: " + r.error());
  h.body_offset = r.offset();
  return h;
}

std::uint64_t Response::size_bytes() const {
  std::uint64_t n = 0;
  for (const Chunk& c : chunks) {
    if (auto* b = std::get_if<std::vector<std::byte>>(&c)) {
      n += b->size();
    } else {
      n += std::get<FileRange>(c).size;
    }
  }
  return n;
}

samsa::Result<std::vector<std::byte>> Response::flatten() const {
  std::vector<std::byte> out;
  for (const Chunk& c : chunks) {
    if (auto* b = std::get_if<std::vector<std::byte>>(&c)) {
      out.insert(out.end(), b->begin(), b->end());
      continue;
    }
    const FileRange& f = std::get<FileRange>(c);
    const std::size_t at = out.size();
    out.resize(at + f.size);
    SAMSA_TRY_ASSIGN(std::size_t n, f.file->read_at(f.position, {out.data() + at, f.size}));
    if (n != f.size) return samsa::Status::io_error("short read of a record set");
  }
  return out;
}

}  // namespace samsa_server
