// Metadata: this node is the only broker, leader and in-sync replica of every partition.
#include "handlers.h"

namespace samsa_server {
namespace {

MetadataTopic describe(const Topic& topic, std::int32_t node_id) {
  MetadataTopic t;
  t.name = topic.name;
  t.is_internal = topic.internal;
  for (const auto& p : topic.partitions) {
    MetadataPartition& mp = t.partitions.emplace_back();
    mp.partition_index = p->index;
    mp.leader_id = node_id;
    mp.replica_nodes = {node_id};
    mp.isr_nodes = {node_id};
  }
  return t;
}

}  // namespace

Reply Handlers::metadata(const Request& request) {
  Reader r = request.body();
  auto decoded = decode_metadata(r, request.header.api_version);
  if (!decoded.ok()) return Reply::close(decoded.status().to_string());
  MetadataResponse m;
  m.brokers.push_back({id_.node_id, id_.host, id_.port, std::nullopt});
  m.cluster_id = id_.cluster_id;
  m.controller_id = id_.node_id;
  if (!decoded->topics) {
    for (const auto& topic : broker_.topics()) m.topics.push_back(describe(*topic, id_.node_id));
  } else {
    const bool create = decoded->allow_auto_topic_creation && broker_.config().auto_create_topics;
    for (const std::string& name : *decoded->topics) {
      MetadataTopic unknown;
      unknown.name = name;
      if (!valid_topic_name(name)) {
        unknown.error_code = error::kInvalidTopicException;
      } else if (auto topic = broker_.find(name)) {
        m.topics.push_back(describe(*topic, id_.node_id));
        continue;
      } else if (!create) {
        unknown.error_code = error::kUnknownTopicOrPartition;
      } else if (auto created = broker_.get_or_create(name); created.ok()) {
        m.topics.push_back(describe(**created, id_.node_id));
        continue;
      } else {
        unknown.error_code = error::kKafkaStorageError;
      }
      m.topics.push_back(std::move(unknown));
    }
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

}  // namespace samsa_server
