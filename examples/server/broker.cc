#include "broker.h"

#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "fetch_waiters.h"

namespace samsa_server {

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameLength || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

samsa::Result<std::unique_ptr<Broker>> Broker::open(BrokerConfig config, WorkPool& append_pool,
                                                    FetchWaiters& waiters, samsa::Env& env) {
  if (config.default_partitions < 1) {
    return samsa::Status::invalid_argument("default partitions must be at least 1");
  }
  SAMSA_TRY(env.create_dirs(config.data_dir));
  std::unique_ptr<Broker> b(new Broker(std::move(config), append_pool, waiters, env));
  auto lock = env.lock(samsa::join_path(b->config_.data_dir, kLockFile));
  if (!lock.ok()) return lock.status().with_context("another server uses this data directory");
  b->lock_ = std::move(lock).value();
  SAMSA_TRY(b->load_producer_ids());
  SAMSA_TRY(b->load_existing());
  return b;
}

Broker::~Broker() {
  (void)close();
}

samsa::Status Broker::load_existing() {
  SAMSA_TRY_ASSIGN(auto names, env_.list_dir(config_.data_dir));
  std::map<std::string, std::int32_t> counts;
  for (const std::string& name : names) {
    const auto parsed = samsa::parse_partition_dir_name(name);
    if (!parsed || !valid_topic_name(parsed->topic) ||
        parsed->partition == std::numeric_limits<std::int32_t>::max()) {
      continue;  // not a partition directory, or one whose count does not fit
    }
    std::int32_t& count = counts[parsed->topic];
    count = std::max(count, parsed->partition + 1);
  }
  for (const auto& [name, count] : counts) {
    SAMSA_TRY_ASSIGN(auto configs, load_topic_configs(name));
    SAMSA_TRY_ASSIGN(auto topic, open_topic(name, count, configs));
    topics_.emplace(name, std::move(topic));
  }
  return samsa::Status();
}

samsa::Result<samsa::TopicConfigs> Broker::load_topic_configs(const std::string& name) {
  const std::string path = samsa::join_path(config_.data_dir, name + std::string(kConfigSuffix));
  SAMSA_TRY_ASSIGN(bool exists, env_.exists(path));
  samsa::TopicConfigs configs;
  if (!exists) return configs;
  SAMSA_TRY_ASSIGN(auto bytes, samsa::read_file(env_, path));
  // "name=value" lines, as written by create().
  std::string_view text = samsa::as_chars(bytes);
  int line = 0;
  while (!text.empty()) {
    ++line;
    const std::size_t nl = text.find('\n');
    const std::string_view row = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (row.empty()) continue;
    const std::size_t eq = row.find('=');
    if (eq == std::string_view::npos || !samsa::is_topic_config(row.substr(0, eq))) {
      return samsa::Status::corruption(
          fmt::format("{} line {}: '{}' is not a topic config", path, line, row));
    }
    configs.emplace_back(std::string(row.substr(0, eq)), std::string(row.substr(eq + 1)));
  }
  return configs;
}

samsa::Result<std::shared_ptr<Topic>> Broker::open_topic(const std::string& name,
                                                         std::int32_t count,
                                                         const samsa::TopicConfigs& configs) {
  auto topic = std::make_shared<Topic>();
  topic->name = name;
  topic->internal = name == kOffsetsTopic;
  topic->configs = configs;
  samsa::LogConfig topic_log = config_.partition.log;
  if (!configs.empty()) {
    auto with = samsa::with_topic_configs(topic_log, configs);
    if (!with.ok()) return with.status().with_context(fmt::format("the configs of topic {}", name));
    topic_log = *with;
  }
  for (std::int32_t i = 0; i < count; ++i) {
    auto handle = std::make_unique<PartitionHandle>();
    handle->topic = name;
    handle->index = i;
    samsa::PartitionConfig pc = config_.partition;
    pc.log = topic_log;
    pc.log.topic = name;
    pc.log.partition = i;
    if (topic->internal) {
      pc.log.cleanup_policy.compact = true;
      pc.log.cleanup_policy.delete_old = false;
      pc.log.segment_bytes = config_.offsets_segment_bytes;
    }
    const std::string dir = samsa::join_path(config_.data_dir, fmt::format("{}-{}", name, i));
    auto opened = samsa::Partition::open(env_, dir, pc);
    if (!opened.ok()) return opened.status().with_context(fmt::format("partition {}", dir));
    handle->partition = std::move(opened).value();
    PartitionHandle* raw = handle.get();
    handle->appends = std::make_unique<AppendQueue>(*raw->partition, append_pool_, [this, raw] {
      raw->appends_done.fetch_add(1, std::memory_order_acq_rel);
      waiters_.notify(raw);
    });
    topic->partitions.push_back(std::move(handle));
  }
  return topic;
}

std::shared_ptr<Topic> Broker::find(std::string_view name) const {
  std::shared_lock lock(topics_mu_);
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second;
}

samsa::Result<std::shared_ptr<Topic>> Broker::get_or_create(std::string_view name) {
  if (!valid_topic_name(name)) {
    return samsa::Status::invalid_argument(fmt::format("invalid topic name '{}'", name));
  }
  if (name == kOffsetsTopic && !find(name)) {
    return samsa::Status::invalid_argument(
        fmt::format("{} is internal: the group coordinator creates it", name));
  }
  if (auto t = find(name)) return t;
  return create_topic(std::string(name), config_.default_partitions);
}

samsa::Result<std::shared_ptr<Topic>> Broker::offsets_topic() {
  if (auto t = find(kOffsetsTopic)) return t;
  return create_topic(std::string(kOffsetsTopic), config_.offsets_partitions);
}

samsa::Status Broker::create(const std::string& name, std::int32_t count,
                             const samsa::TopicConfigs& configs, bool validate_only) {
  if (!valid_topic_name(name)) {
    return samsa::Status::invalid_argument(fmt::format("invalid topic name '{}'", name));
  }
  SAMSA_TRY(samsa::with_topic_configs(config_.partition.log, configs).status());
  if (find(name)) return samsa::Status::already_exists(fmt::format("topic {} exists", name));
  if (validate_only) return samsa::Status();
  std::lock_guard create(create_mu_);
  if (find(name)) return samsa::Status::already_exists(fmt::format("topic {} exists", name));
  if (closed_) return samsa::Status::failed_precondition("broker closed");
  // The configs first: a crash after the partitions exist must not leave them with defaults.
  if (!configs.empty()) {
    std::string text;
    for (const auto& [k, v] : configs) text += k + "=" + v + "\n";
    SAMSA_TRY(samsa::write_file_atomically(
        env_, samsa::join_path(config_.data_dir, name + std::string(kConfigSuffix)),
        samsa::as_bytes(text)));
  }
  SAMSA_TRY_ASSIGN(auto topic, open_topic(name, count, configs));
  SAMSA_TRY(env_.sync_dir(config_.data_dir));
  std::unique_lock lock(topics_mu_);
  topics_.emplace(name, topic);
  return samsa::Status();
}

samsa::Result<std::shared_ptr<Topic>> Broker::create_topic(const std::string& name,
                                                           std::int32_t count,
                                                           const samsa::TopicConfigs& configs) {
  std::lock_guard create(create_mu_);
  if (auto t = find(name)) return t;
  if (closed_) return samsa::Status::failed_precondition("broker closed");
  SAMSA_TRY_ASSIGN(auto topic, open_topic(name, count, configs));
  SAMSA_TRY(env_.sync_dir(config_.data_dir));
  std::unique_lock lock(topics_mu_);
  topics_.emplace(name, topic);
  return topic;
}

std::vector<std::shared_ptr<Topic>> Broker::topics() const {
  std::shared_lock lock(topics_mu_);
  std::vector<std::shared_ptr<Topic>> out;
  out.reserve(topics_.size());
  for (const auto& [name, t] : topics_) out.push_back(t);
  return out;
}

samsa::Status Broker::load_producer_ids() {
  const std::string path = samsa::join_path(config_.data_dir, kProducerIdFile);
  SAMSA_TRY_ASSIGN(bool exists, env_.exists(path));
  if (!exists) return samsa::Status();
  SAMSA_TRY_ASSIGN(auto bytes, samsa::read_file(env_, path));
  // "v1 <reserved end>\n"
  const std::string_view text = samsa::as_chars(bytes);
  std::int64_t end = -1;
  if (text.starts_with("v1 ")) {
    std::from_chars(text.data() + 3, text.data() + text.size(), end);
  }
  if (end < 0) return samsa::Status::corruption(fmt::format("{}: not 'v1 <number>'", path));
  next_pid_ = reserved_end_ = end;
  return samsa::Status();
}

samsa::Result<std::int64_t> Broker::next_producer_id() {
  std::lock_guard lock(pid_mu_);
  if (next_pid_ == reserved_end_) {
    const std::int64_t end = reserved_end_ + kProducerIdBlock;
    const std::string text = fmt::format("v1 {}\n", end);
    SAMSA_TRY(samsa::write_file_atomically(
        env_, samsa::join_path(config_.data_dir, kProducerIdFile), samsa::as_bytes(text)));
    reserved_end_ = end;
  }
  return next_pid_++;
}

samsa::Status Broker::close() {
  std::lock_guard create(create_mu_);
  if (closed_) return samsa::Status();
  closed_ = true;
  samsa::Status first;
  std::unique_lock lock(topics_mu_);
  for (auto& [name, topic] : topics_) {
    for (auto& p : topic->partitions) {
      samsa::Status s = p->partition->close();
      if (!s.ok() && first.ok()) first = s;
    }
  }
  return first;
}

}  // namespace samsa_server
