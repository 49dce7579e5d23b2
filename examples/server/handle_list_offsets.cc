// ListOffsets: earliest (-2), latest (-1: the last stable offset) or the first offset whose
// timestamp is at or after the one asked for.
#include "handlers.h"

namespace samsa_server {
namespace {

constexpr std::int64_t kEarliest = -2;
constexpr std::int64_t kLatest = -1;

ListOffsetsPartitionResponse lookup(const Topic* topic, const ListOffsetsPartition& p,
                                    std::int16_t version) {
  ListOffsetsPartitionResponse out;
  out.partition_index = p.partition_index;
  PartitionHandle* handle = topic ? topic->partition(p.partition_index) : nullptr;
  if (handle == nullptr) {
    out.error_code = error::kUnknownTopicOrPartition;
    return out;
  }
  samsa::Partition& part = *handle->partition;
  if (p.timestamp == kEarliest) {
    out.offset = part.log_start_offset().value();
  } else if (p.timestamp == kLatest) {
    out.offset = part.last_stable_offset().value();
  } else {
    auto found = part.offset_for_timestamp(samsa::Timestamp(p.timestamp));
    if (!found.ok()) {
      out.error_code = error::kKafkaStorageError;
      return out;
    }
    if (*found) {
      out.offset = (*found)->offset.value();
      out.timestamp = (*found)->timestamp.value();
    }
  }
  if (version == 0 && out.offset >= 0 && p.max_num_offsets > 0) {
    out.old_style_offsets.push_back(out.offset);
  }
  return out;
}

}  // namespace

Reply Handlers::list_offsets(const Request& request) {
  const std::int16_t version = request.header.api_version;
  Reader r = request.body();
  auto decoded = decode_list_offsets(r, version);
  if (!decoded.ok()) return Reply::close(decoded.status().to_string());
  ListOffsetsResponse m;
  for (const ListOffsetsTopic& t : decoded->topics) {
    ListOffsetsTopicResponse& rt = m.topics.emplace_back();
    rt.name = t.name;
    const auto topic = broker_.find(t.name);
    for (const ListOffsetsPartition& p : t.partitions) {
      rt.partitions.push_back(lookup(topic.get(), p, version));
    }
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, version, out.body());
  return Reply::of(out.finish());
}

}  // namespace samsa_server
