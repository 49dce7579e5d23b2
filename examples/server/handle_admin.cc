// The admin APIs: CreateTopics so far. The checks are Kafka's (ZkAdminManager /
// ReplicationControlManager.createTopics) for a cluster of this one node.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "codec/admin_messages.h"
#include "handlers.h"

namespace samsa_server {

namespace {

// samsa's bound on one topic's partitions (Kafka has none); more is INVALID_PARTITIONS.
constexpr std::int32_t kMaxPartitionsPerTopic = 10000;

CreatableTopicResult check_and_create(Broker& broker, const CreatableTopic& t, bool validate_only,
                                      std::int32_t default_partitions) {
  CreatableTopicResult r{t.name, error::kNone, std::nullopt};
  const auto refuse = [&r](std::int16_t code, std::string message) {
    r.error_code = code;
    r.error_message = std::move(message);
    return r;
  };
  if (!valid_topic_name(t.name)) {
    return refuse(error::kInvalidTopicException, fmt::format("invalid topic name '{}'", t.name));
  }
  if (broker.find(t.name)) {
    return refuse(error::kTopicAlreadyExists, fmt::format("Topic '{}' already exists.", t.name));
  }
  std::int32_t count = t.num_partitions;
  if (!t.assignments.empty()) {
    if (t.num_partitions != -1 || t.replication_factor != -1) {
      return refuse(error::kInvalidRequest,
                    "both a replica assignment and a partition count or replication factor");
    }
    // This node (0) must hold each partition, partitions numbered 0..n-1, one replica each.
    std::set<std::int32_t> seen;
    for (const CreatableReplicaAssignment& a : t.assignments) {
      if (a.broker_ids.size() != 1 || a.broker_ids[0] != 0 || a.partition_index < 0 ||
          !seen.insert(a.partition_index).second) {
        return refuse(
            error::kInvalidReplicaAssignment,
            fmt::format("partition {}: this cluster is the single broker 0", a.partition_index));
      }
    }
    if (*seen.rbegin() != static_cast<std::int32_t>(seen.size()) - 1) {
      return refuse(error::kInvalidReplicaAssignment, "partitions must be numbered 0..n-1");
    }
    count = static_cast<std::int32_t>(seen.size());
  } else {
    if (count == -1) count = default_partitions;
    if (count <= 0 || count > kMaxPartitionsPerTopic) {
      return refuse(error::kInvalidPartitions,
                    fmt::format("Number of partitions must be in [1, {}], not {}.",
                                kMaxPartitionsPerTopic, t.num_partitions));
    }
    if (t.replication_factor == 0 || t.replication_factor < -1) {
      return refuse(error::kInvalidReplicationFactor,
                    fmt::format("Replication factor must be larger than 0, or -1 to use the "
                                "default value, not {}.",
                                t.replication_factor));
    }
    if (t.replication_factor > 1) {
      return refuse(error::kInvalidReplicationFactor,
                    fmt::format("Unable to replicate the partition {} time(s): the number of "
                                "registered brokers is 1.",
                                t.replication_factor));
    }
  }
  samsa::TopicConfigs configs;
  for (const CreatableTopicConfig& c : t.configs) {
    if (!c.value) return refuse(error::kInvalidConfig, fmt::format("Null value for {}", c.name));
    configs.emplace_back(c.name, *c.value);
  }
  const samsa::Status st = broker.create(t.name, count, configs, validate_only);
  if (st.ok()) return r;
  switch (st.code()) {
    case samsa::StatusCode::already_exists:
      return refuse(error::kTopicAlreadyExists, st.message());
    case samsa::StatusCode::invalid_argument:
      return refuse(error::kInvalidConfig, st.message());
    default:
      return refuse(error::kKafkaStorageError, st.to_string());
  }
}

}  // namespace

Reply Handlers::create_topics(const Request& request) {
  Reader r = request.body();
  auto d = decode_create_topics(r, request.header.api_version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  CreateTopicsResponse m;
  std::set<std::string> names;
  std::set<std::string> repeated;
  for (const CreatableTopic& t : d->topics) {
    if (!names.insert(t.name).second) repeated.insert(t.name);
  }
  std::set<std::string> answered;
  for (const CreatableTopic& t : d->topics) {
    if (!answered.insert(t.name).second) continue;  // one answer per name
    if (repeated.count(t.name)) {
      // Kafka: a name listed twice is refused, once, with INVALID_REQUEST; neither is made.
      m.topics.push_back({t.name, error::kInvalidRequest,
                          "Create topics request from client contains multiple entries for "
                          "the same topic."});
      continue;
    }
    m.topics.push_back(
        check_and_create(broker_, t, d->validate_only, broker_.config().default_partitions));
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

namespace {

// Kafka's ConfigResource.Type, ConfigEntry.ConfigSource and ConfigDef.Type numbers.
constexpr std::int8_t kTopicResource = 2;
constexpr std::int8_t kBrokerResource = 4;
constexpr std::int8_t kSourceTopicConfig = 1;    // DYNAMIC_TOPIC_CONFIG
constexpr std::int8_t kSourceDefaultConfig = 5;  // DEFAULT_CONFIG

std::int8_t config_type(std::string_view name) {
  if (name == "cleanup.policy") return 7;             // LIST
  if (name == "message.timestamp.type") return 2;     // STRING
  if (name == "min.cleanable.dirty.ratio") return 6;  // DOUBLE
  if (name == "segment.bytes" || name == "max.message.bytes" || name == "index.interval.bytes" ||
      name == "segment.index.bytes") {
    return 3;  // INT
  }
  return 5;  // LONG
}

DescribeConfigsResult describe_topic(const Broker& broker, const DescribeConfigsResource& res,
                                     bool synonyms) {
  DescribeConfigsResult out{error::kNone, std::nullopt, res.resource_type, res.resource_name, {}};
  auto topic = broker.find(res.resource_name);
  if (!topic || topic->partitions.empty()) {
    out.error_code = error::kUnknownTopicOrPartition;
    out.error_message = fmt::format("Topic '{}' does not exist.", res.resource_name);
    return out;
  }
  const samsa::LogConfig& lc = topic->partitions.front()->partition->log().config();
  for (const auto& [name, value] : samsa::topic_configs(lc)) {
    if (res.configuration_keys &&
        std::find(res.configuration_keys->begin(), res.configuration_keys->end(), name) ==
            res.configuration_keys->end()) {
      continue;
    }
    const bool own = std::any_of(topic->configs.begin(), topic->configs.end(),
                                 [&](const auto& kv) { return kv.first == name; });
    DescribeConfigsResourceResult c;
    c.name = name;
    c.value = value;
    c.read_only = false;
    c.is_default = !own;
    c.config_source = own ? kSourceTopicConfig : kSourceDefaultConfig;
    c.config_type = config_type(name);
    if (synonyms) c.synonyms.push_back({name, value, c.config_source});
    out.configs.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Reply Handlers::describe_configs(const Request& request) {
  Reader r = request.body();
  auto d = decode_describe_configs(r, request.header.api_version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  DescribeConfigsResponse m;
  for (const DescribeConfigsResource& res : d->resources) {
    if (res.resource_type == kTopicResource) {
      m.results.push_back(describe_topic(broker_, res, d->include_synonyms));
    } else if (res.resource_type == kBrokerResource &&
               (res.resource_name.empty() || res.resource_name == std::to_string(id_.node_id))) {
      // This node has no broker configs a client can change: nothing to describe.
      m.results.push_back({error::kNone, std::nullopt, res.resource_type, res.resource_name, {}});
    } else {
      m.results.push_back({error::kInvalidRequest,
                           fmt::format("resource type {} '{}' is not described here",
                                       res.resource_type, res.resource_name),
                           res.resource_type,
                           res.resource_name,
                           {}});
    }
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

}  // namespace samsa_server
